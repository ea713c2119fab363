package grpctools

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Load is a ghz run: Requests calls of Method (package.Service/Method) with
// the JSON request Data, Concurrency at a time.
type Load struct {
	Method      string
	Data        string
	Requests    int
	Concurrency int
}

// LoadReport is what a ghz run measured.
type LoadReport struct {
	Count     int            // calls made
	PerSecond float64        // calls a second
	P50, P99  time.Duration  // latency percentiles
	Codes     map[string]int // calls by status code
}

func (r LoadReport) String() string {
	codes := make([]string, 0, len(r.Codes))
	for code, n := range r.Codes {
		codes = append(codes, fmt.Sprintf("%s %d", code, n))
	}
	sort.Strings(codes)
	return fmt.Sprintf("%d calls, %.0f requests/s, p50 %v, p99 %v (%s)", r.Count, r.PerSecond,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), strings.Join(codes, ", "))
}

// RunGhz runs the ghz binary bin with l against the service at addr,
// connecting as conn says.
func RunGhz(ctx context.Context, bin, addr string, conn Conn, l Load) (LoadReport, error) {
	argv := append(conn.GhzFlags(), "--call", l.Method, "--data", l.Data,
		"--total", fmt.Sprint(l.Requests), "--concurrency", fmt.Sprint(l.Concurrency), "--format", "json", addr)
	cmd := exec.CommandContext(ctx, bin, argv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return LoadReport{}, fmt.Errorf("ghz %s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return DecodeGhzReport(out)
}

// DecodeGhzReport decodes ghz's JSON report (--format json).
func DecodeGhzReport(data []byte) (LoadReport, error) {
	var raw struct {
		Count     *int           `json:"count"`
		RPS       float64        `json:"rps"`
		Codes     map[string]int `json:"statusCodeDistribution"`
		Latencies []struct {
			Percentage int           `json:"percentage"`
			Latency    time.Duration `json:"latency"` // nanoseconds
		} `json:"latencyDistribution"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return LoadReport{}, fmt.Errorf("not a ghz JSON report: %w", err)
	}
	if raw.Count == nil {
		return LoadReport{}, fmt.Errorf("not a ghz JSON report: no count")
	}
	r := LoadReport{Count: *raw.Count, PerSecond: raw.RPS, Codes: raw.Codes}
	for _, l := range raw.Latencies {
		switch l.Percentage {
		case 50:
			r.P50 = l.Latency
		case 99:
			r.P99 = l.Latency
		}
	}
	if r.Count > 0 && r.P99 == 0 {
		return LoadReport{}, fmt.Errorf("ghz report of %d calls has no 99th percentile latency", r.Count)
	}
	return r, nil
}
