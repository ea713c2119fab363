package monitoring

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/monoreel/monoreel/libs/testproc"
)

func TestDecodeVector(t *testing.T) {
	samples, err := DecodeVector([]byte(`{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"__name__":"up","job":"idgen"},"value":[1700000000.5,"1"]},
		{"metric":{"job":"config"},"value":[1700000000.5,"0.25"]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || samples[0].Labels["job"] != "idgen" || samples[0].Value != 1 || samples[1].Value != 0.25 {
		t.Errorf("samples = %+v", samples)
	}
	for body, want := range map[string]string{
		`{"status":"error","error":"parse error at char 3"}`:                             "parse error at char 3",
		`{"status":"success","data":{"resultType":"matrix","result":[]}}`:                `type "matrix"`,
		`{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}`:   "want [time, value]",
		`{"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}}`: "is not a string",
		`<html>`: "not a Prometheus API answer",
	} {
		if _, err := DecodeVector([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeVector(%s) = %v, want an error with %q", body, err, want)
		}
	}
}

func FuzzDecodeVector(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"x"},"value":[1,"NaN"]}]}}`))
	f.Add([]byte(`{"status":"error","error":"bad"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		samples, err := DecodeVector(body)
		if err != nil && samples != nil {
			t.Errorf("samples %v with error %v", samples, err)
		}
	})
}

func TestScrapeConfig(t *testing.T) {
	got := ScrapeConfig([]Target{{"idgen", "127.0.0.1:9091"}, {"upload", "127.0.0.1:9301"}, {"idgen", "127.0.0.1:9093"}}, []string{"/r/monoreel.rules.yml"})
	for _, want := range []string{"scrape_interval: 1s", `- "/r/monoreel.rules.yml"`, `job_name: "idgen"`, `targets: ["127.0.0.1:9091", "127.0.0.1:9093"]`, `targets: ["127.0.0.1:9301"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, `job_name: "idgen"`); n != 1 {
		t.Errorf("%d jobs named idgen: want one with both instances (Prometheus refuses two)", n)
	}
}

// TestPrometheusScrapesAndRecords: a real Prometheus scrapes a target serving
// a breaker stuck open and, with the repository's rules, records it as not
// closed; a target that is not there is down.
func TestPrometheusScrapesAndRecords(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "breaker_state{breaker=\"aitag\",state=\"open\"} 1\nbreaker_state{breaker=\"aitag\",state=\"closed\"} 0\n")
	}))
	defer metrics.Close()
	rules := testproc.Runfile(t, "MONOREEL_RULES")
	p, err := Launch(testproc.Binary(t, "prometheus", "prometheus"), t.TempDir(),
		[]Target{{"orchestrator", strings.TrimPrefix(metrics.URL, "http://")}, {"gone", testproc.FreeAddr(t)}}, []string{rules})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		targets, terr := p.Targets(ctx)
		health := map[string]string{}
		for _, tg := range targets {
			health[tg.Labels["job"]] = tg.Health
		}
		samples, qerr := p.Query(ctx, `breaker:breaker_not_closed{job="orchestrator",breaker="aitag"}`)
		if terr == nil && qerr == nil && health["orchestrator"] == "up" && health["gone"] == "down" && len(samples) == 1 && samples[0].Value == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: targets %v (%v), recorded %v (%v)\n%s", health, terr, samples, qerr, p.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// FuzzDecodeTrace: no answer makes DecodeTrace panic, and spans it returns
// carry the service of their process.
func FuzzDecodeTrace(f *testing.F) {
	f.Add([]byte(`{"data":[{"spans":[{"traceID":"a","spanID":"b","operationName":"op","processID":"p1","references":[{"refType":"CHILD_OF","traceID":"a","spanID":"c"}]}],"processes":{"p1":{"serviceName":"idgen"}}}]}`))
	f.Add([]byte(`{"errors":[{"msg":"trace not found"}]}`))
	f.Add([]byte(`{"data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, err := DecodeTrace(body)
		if err != nil && spans != nil {
			t.Fatalf("spans with an error: %v", err)
		}
	})
}

func TestDecodeTrace(t *testing.T) {
	spans, err := DecodeTrace([]byte(`{"data":[{"spans":[{"traceID":"a","spanID":"b","operationName":"op","processID":"p1","references":[{"refType":"CHILD_OF","traceID":"a","spanID":"c"}]}],"processes":{"p1":{"serviceName":"idgen"}}}]}`))
	if err != nil || len(spans) != 1 || spans[0].Service != "idgen" || spans[0].Parent() != "c" {
		t.Errorf("DecodeTrace = %+v, %v", spans, err)
	}
	if _, err := DecodeTrace([]byte(`{"errors":[{"msg":"trace not found"}]}`)); err == nil || !strings.Contains(err.Error(), "trace not found") {
		t.Errorf("an error answer: %v", err)
	}
}

// TestJaegerTakesSpansOnlyOverMutualTLS: a service's certificate gets its spans
// in (and the query API finds them); a client with no certificate, and one in
// the clear, are refused.
func TestJaegerTakesSpansOnlyOverMutualTLS(t *testing.T) {
	p := testproc.TestPKI(t)
	j, err := LaunchJaeger(testproc.Runfile(t, "JAEGER"), t.TempDir(), p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop()
	// One real span, recorded as the SDK hands it to an exporter.
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	_, span := provider.Tracer("monitoring_test").Start(context.Background(), "checked-in")
	span.End()
	spans := recorder.Ended()
	traceID := span.SpanContext().TraceID().String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	export := func(opt otlptracegrpc.Option) error {
		exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(j.OTLP), opt, otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
		if err != nil {
			return err
		}
		defer exporter.Shutdown(ctx)
		return exporter.ExportSpans(ctx, spans)
	}
	user, err := p.UserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]otlptracegrpc.Option{
		"a client with no certificate": otlptracegrpc.WithTLSCredentials(user),
		"a client in the clear":        otlptracegrpc.WithInsecure(),
	} {
		if err := export(opt); err == nil {
			t.Errorf("spans from %s were taken", name)
		} else {
			t.Logf("%s refused: %v", name, err)
		}
	}
	service, err := p.ServiceCredentials("monitoring")
	if err != nil {
		t.Fatal(err)
	}
	if err := export(otlptracegrpc.WithTLSCredentials(service)); err != nil {
		t.Fatalf("spans from a service over mutual TLS: %v\n%s", err, j.Log())
	}
	for {
		got, err := j.Trace(ctx, traceID)
		if err == nil && len(got) == 1 && got[0].Operation == "checked-in" {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("trace %s not in Jaeger after 30s: %v, %v", traceID, got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
