package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/monoreel/monoreel/tools/monitoring"
)

// startPrometheus runs Prometheus (bin, from the Debian package prometheus) on
// loopback, scraping every service's admin listener with the rules in
// ruleFiles, its data and log under the stack's directory.
func (s *stack) startPrometheus(bin string, ruleFiles []string) error {
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("-prometheus: %s not found (%v): install the Debian package prometheus", bin, err)
	}
	var targets []monitoring.Target
	for _, name := range s.order {
		for _, svc := range s.replicas[name] {
			targets = append(targets, monitoring.Target{Job: name, Addr: svc.AdminAddr})
		}
	}
	if s.prom, err = monitoring.Launch(path, filepath.Join(s.dir, "prometheus"), targets, ruleFiles); err != nil {
		return err
	}
	return nil
}

// promReport is what Prometheus saw of the stack.
type promReport struct {
	url     string
	up      int      // targets up
	targets int      // targets in all
	series  []string // the queries below, each with its number of series
}

// promChecks are queries that must each return at least min series (0: one
// per service) once the scenario has run: the metrics the platform exports,
// and the repository's recording rules evaluated on them.
var promChecks = []struct {
	query string
	min   int
}{
	{`workflow_stage_duration_seconds_count{outcome="done"}`, 4},  // every stage of the publish
	{`workflow_stage_retries_total`, 4},                           // zero, but there to alert on
	{`breaker_state{state="closed"} == 1`, 3},                     // orchestrator's breakers
	{`grpc_client_handling_seconds_count{job="orchestrator"}`, 1}, // its calls to the downstreams
	{`grpc_client_handling_seconds_count{job="upload"}`, 1},       // upload's calls to idgen
	{`job:grpc_server_requests:rate1m`, 0},                        // a recording rule, per service
	{`stage:workflow_stage_duration_seconds:p95_30m`, 4},          // another, per stage
}

// checkPrometheus waits until Prometheus has every service up and every
// query of promChecks answered.
func (sc *scenario) checkPrometheus(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		r, missing := sc.promSnapshot(ctx)
		sc.r.prom = r
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after a minute, %s (Prometheus log: %s)", missing, filepath.Join(sc.st.dir, "prometheus", "prometheus.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// promSnapshot asks Prometheus for the targets and promChecks, and says what is
// missing ("" if nothing).
func (sc *scenario) promSnapshot(ctx context.Context) (promReport, string) {
	p := sc.st.prom
	r := promReport{url: p.URL}
	targets, err := p.Targets(ctx)
	if err != nil {
		return r, err.Error()
	}
	// Every instance is a target; those the harness killed are down.
	want, killed := 0, map[string]bool{}
	for _, name := range sc.st.order {
		want += len(sc.st.replicas[name])
		for _, svc := range sc.st.replicas[name] {
			killed[svc.AdminAddr] = !slices.Contains(sc.st.live(name), svc)
		}
	}
	var down []string
	for _, t := range targets {
		switch {
		case t.Health == "up":
			r.up++
		case !killed[t.Labels["instance"]]:
			down = append(down, fmt.Sprintf("%s %s (%s %s)", t.Labels["job"], t.Labels["instance"], t.Health, t.LastError))
		}
	}
	r.targets = len(targets)
	var missing []string
	if r.targets != want || len(down) > 0 {
		slices.Sort(down)
		missing = append(missing, fmt.Sprintf("%d of %d instances up, down: %s", r.up, want, strings.Join(down, ", ")))
	}
	for _, c := range promChecks {
		samples, err := p.Query(ctx, c.query)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		r.series = append(r.series, fmt.Sprintf("%s: %d", c.query, len(samples)))
		want := c.min
		if want == 0 {
			want = len(sc.st.order)
		}
		if len(samples) < want {
			missing = append(missing, fmt.Sprintf("%s has %d series, want %d", c.query, len(samples), want))
		}
	}
	return r, strings.Join(missing, "; ")
}

func (r promReport) print(w io.Writer) {
	if r.url == "" {
		return
	}
	fmt.Fprintf(w, "  Prometheus %s: %d of %d targets up; series:\n", r.url, r.up, r.targets)
	for _, s := range r.series {
		fmt.Fprintf(w, "    %s\n", s)
	}
}
