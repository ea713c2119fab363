package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/monoreel/monoreel/libs/pki"
	"github.com/monoreel/monoreel/libs/testproc"
)

// Jaeger is a Jaeger (v2, all-in-one, in-memory) running on loopback: the trace
// backend of devstack and its test. Services export to OTLP over mutual TLS, as
// they call each other: Jaeger has a certificate of the platform's CA and takes
// spans only from a client with one (a service's). Query is its HTTP API and UI.
type Jaeger struct {
	*testproc.Process
	OTLP  string // host:port of its OTLP/gRPC receiver: services' -trace_endpoint
	Query string // http://host:port of its query API and UI
}

// jaegerConfig is Jaeger's configuration (an OpenTelemetry collector's): OTLP
// in over mutual TLS, memory storage, the query API; no other receiver, no
// telemetry port.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: %s
    grpc:
      endpoint: %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
        tls:
          cert_file: %s
          key_file: %s
          client_ca_file: %s
          min_version: "1.3"
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// LaunchJaeger starts Jaeger (the binary bin) on free loopback ports, its
// configuration and log under dir, with a certificate from the PKI in ca (a
// "jaeger" service's, issued now). The caller stops it.
func LaunchJaeger(bin, dir string, ca pki.Dir) (*Jaeger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := ca.IssueFiles(certValidity, "jaeger"); err != nil {
		return nil, fmt.Errorf("jaeger's certificate: %w", err)
	}
	var addrs [3]string
	for i := range addrs {
		var err error
		if addrs[i], err = testproc.PickAddr(); err != nil {
			return nil, err
		}
	}
	j := &Jaeger{OTLP: addrs[0], Query: "http://" + addrs[1]}
	configFile := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(configFile, fmt.Appendf(nil, jaegerConfig, addrs[1], addrs[2], addrs[0], ca.CertFile("jaeger"), ca.KeyFile("jaeger"), ca.CAFile()), 0o644); err != nil {
		return nil, err
	}
	var err error
	j.Process, err = testproc.Launch(bin, []string{"--config=" + configFile}, filepath.Join(dir, "jaeger.log"), func() error {
		_, err := httpGet(context.Background(), j.Query+"/api/services")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	return j, nil
}

// certValidity is how long Jaeger's certificate lasts: it is issued at every
// launch, for a stack that runs hours at most.
const certValidity = 7 * 24 * time.Hour

// TraceURL is where the UI shows trace id. (A Jaeger built from its Go module
// serves a placeholder page there: upstream builds the UI's assets with npm,
// apart from the module. TraceAPIURL works.)
func (j *Jaeger) TraceURL(id string) string { return j.Query + "/trace/" + id }

// TraceAPIURL is where the query API returns trace id, as JSON.
func (j *Jaeger) TraceAPIURL(id string) string { return j.Query + "/api/traces/" + id }

// Span is a span as Jaeger's query API returns it.
type Span struct {
	TraceID    string `json:"traceID"`
	SpanID     string `json:"spanID"`
	Operation  string `json:"operationName"`
	ProcessID  string `json:"processID"`
	References []struct {
		RefType string `json:"refType"` // CHILD_OF, FOLLOWS_FROM
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Service string `json:"-"` // from the trace's processes
}

// Parent is the span's CHILD_OF reference, "" for a root.
func (s Span) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" && r.TraceID == s.TraceID {
			return r.SpanID
		}
	}
	return ""
}

// Trace returns the spans of trace id, each with its service's name.
func (j *Jaeger) Trace(ctx context.Context, id string) ([]Span, error) {
	body, err := httpGet(ctx, j.Query+"/api/traces/"+id)
	if err != nil {
		return nil, err
	}
	return DecodeTrace(body)
}

// DecodeTrace decodes the answer of Jaeger's /api/traces/{id}.
func DecodeTrace(body []byte) ([]Span, error) {
	var resp struct {
		Data []struct {
			Spans     []Span `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
		Errors []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("jaeger trace: %w", err)
	}
	if len(resp.Errors) > 0 {
		var msgs []string
		for _, e := range resp.Errors {
			msgs = append(msgs, e.Msg)
		}
		return nil, fmt.Errorf("jaeger trace: %s", strings.Join(msgs, "; "))
	}
	var spans []Span
	for _, t := range resp.Data {
		for _, s := range t.Spans {
			s.Service = t.Processes[s.ProcessID].ServiceName
			spans = append(spans, s)
		}
	}
	return spans, nil
}
