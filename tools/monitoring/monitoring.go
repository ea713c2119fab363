// Package monitoring runs the observability backends of devstack and its test
// on loopback, and reads them through their HTTP APIs: a real Prometheus over
// the running services, with the repository's rules (rules/monoreel.rules.yml),
// from the Debian package prometheus; and Jaeger, which the services export
// their traces to, built from its Go module (@jaeger in MODULE.bazel).
package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/monoreel/monoreel/libs/testproc"
)

// Target is a service Prometheus scrapes: its name (the job label, as the
// rules expect) and its admin address (host:port serving /metrics).
type Target struct{ Job, Addr string }

// Prometheus is a Prometheus server running on loopback.
type Prometheus struct {
	*testproc.Process
	URL string // http://127.0.0.1:PORT
}

// ScrapeConfig is a Prometheus configuration scraping every target every
// second (a loopback stack is small; tests want data soon) and evaluating
// ruleFiles just as often.
func ScrapeConfig(targets []Target, ruleFiles []string) string {
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	if len(ruleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range ruleFiles {
			fmt.Fprintf(&b, "  - %s\n", strconv.Quote(f))
		}
	}
	b.WriteString("scrape_configs:\n")
	// One job per service, with every instance of it (in the order given).
	var jobs []string
	addrs := map[string][]string{}
	for _, t := range targets {
		if addrs[t.Job] == nil {
			jobs = append(jobs, t.Job)
		}
		addrs[t.Job] = append(addrs[t.Job], strconv.Quote(t.Addr))
	}
	for _, job := range jobs {
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n", strconv.Quote(job), strings.Join(addrs[job], ", "))
	}
	return b.String()
}

// Launch starts Prometheus (the binary bin) on a free loopback port, scraping
// targets with ruleFiles loaded, its configuration, data and log under dir. The
// caller stops it.
func Launch(bin, dir string, targets []Target, ruleFiles []string) (*Prometheus, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(ScrapeConfig(targets, ruleFiles)), 0o644); err != nil {
		return nil, err
	}
	addr, err := testproc.PickAddr()
	if err != nil {
		return nil, err
	}
	p := &Prometheus{URL: "http://" + addr}
	p.Process, err = testproc.Launch(bin, []string{
		"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}, filepath.Join(dir, "prometheus.log"), func() error {
		_, err := p.get(context.Background(), "/-/ready")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return p, nil
}

func (p *Prometheus) get(ctx context.Context, path string) ([]byte, error) {
	return httpGet(ctx, p.URL+path)
}

// httpGet returns the body of a 200 answer to GET address.
func httpGet(ctx context.Context, address string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", address, resp.Status, body)
	}
	return body, nil
}

// TargetHealth is what Prometheus knows of a target's last scrape.
type TargetHealth struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"` // up, down or unknown
	LastError string            `json:"lastError"`
}

// Targets returns the active targets and their health.
func (p *Prometheus) Targets(ctx context.Context) ([]TargetHealth, error) {
	body, err := p.get(ctx, "/api/v1/targets?state=active")
	if err != nil {
		return nil, err
	}
	var data struct {
		ActiveTargets []TargetHealth `json:"activeTargets"`
	}
	if err := decodeAPI(body, &data); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return data.ActiveTargets, nil
}

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates an instant PromQL query now.
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	body, err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	samples, err := DecodeVector(body)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	return samples, nil
}

// DecodeVector decodes the answer of /api/v1/query whose result is an instant
// vector.
func DecodeVector(body []byte) ([]Sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"` // [unix time, "value"]
		} `json:"result"`
	}
	if err := decodeAPI(body, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result of type %q, want a vector", data.ResultType)
	}
	samples := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		if len(r.Value) != 2 {
			return nil, fmt.Errorf("sample %v: want [time, value], got %d elements", r.Metric, len(r.Value))
		}
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("sample %v: value %v is not a string", r.Metric, r.Value[1])
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("sample %v: %w", r.Metric, err)
		}
		samples = append(samples, Sample{Labels: r.Metric, Value: v})
	}
	return samples, nil
}

// decodeAPI decodes the envelope of Prometheus's HTTP API into data.
func decodeAPI(body []byte, data any) error {
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("not a Prometheus API answer: %w", err)
	}
	if env.Status != "success" {
		return fmt.Errorf("prometheus: status %q: %s", env.Status, env.Error)
	}
	if len(env.Data) == 0 {
		return errors.New("prometheus: an answer without data")
	}
	return json.Unmarshal(env.Data, data)
}
