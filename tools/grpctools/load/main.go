// Command load measures a service's throughput and latency with ghz, through
// server reflection (no .proto file): requests a second, p50 and p99.
//
//	./bazelw run //tools/grpctools/load                     # idgen on loopback: plaintext, mutual TLS, TLS + token, tracing
//	./bazelw run //tools/grpctools/load -- -addr=HOST:PORT  # a running service, as an operator of -pki
//
// Started by itself, it runs the same load against idgen started each way, in one
// run, and prints each one's cost against the plaintext baseline: what transport
// security, the access check and tracing (every call sampled, or 1 in 100,
// exported to a real Jaeger) cost on every call.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/testproc"
	"github.com/monoreel/monoreel/tools/grpctools"
	"github.com/monoreel/monoreel/tools/monitoring"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("load", flag.ContinueOnError)
	ghz := flags.String("ghz", "", "the ghz binary (./bazelw run sets it)")
	service := flags.String("service", "", "a service binary to start on loopback and load (./bazelw run sets idgen's); ignored with -addr")
	addr := flags.String("addr", "", "load this running service instead (host:port)")
	jaegerBin := flags.String("jaeger", "", "the Jaeger binary the traced runs export to (./bazelw run sets it); empty: no tracing runs")
	pkiDir := flags.String("pki", "", "with -addr: the PKI the service trusts (its CA key signs the load's certificate and token; default: the development PKI)")
	l := grpctools.Load{}
	flags.StringVar(&l.Method, "call", "monoreel.idgen.v1.IDGenService/NextID", "the method: package.Service/Method")
	flags.StringVar(&l.Data, "data", "{}", "the request, in JSON")
	flags.IntVar(&l.Requests, "n", 20000, "calls in all")
	flags.IntVar(&l.Concurrency, "c", 20, "calls in flight at a time")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *ghz == "" || (*addr == "" && *service == "") {
		return fmt.Errorf("want -ghz, and -addr or -service (./bazelw run //tools/grpctools/load sets -ghz and -service)")
	}
	dir, err := os.MkdirTemp("", "monoreel-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *addr != "" {
		if *pkiDir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				return err
			}
			*pkiDir = filepath.Join(cache, "monoreel", "devpki")
		}
		p, err := testproc.OpenPKI(*pkiDir)
		if err != nil {
			return err
		}
		conn, err := operator(p)
		if err != nil {
			return err
		}
		report, err := measure(ctx, *ghz, *addr, conn, l)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s, %d concurrent: %s\n", l.Method, l.Concurrency, report)
		return nil
	}

	p, err := testproc.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	launch := func(p *testproc.PKI, name string, args ...string) (*testproc.Service, error) {
		return testproc.LaunchService(p, *service, filepath.Join(dir, name+".log"), args...)
	}
	secure, err := launch(p, "secure")
	if err != nil {
		return err
	}
	defer secure.Stop()
	plain, err := launch(nil, "plaintext")
	if err != nil {
		return err
	}
	defer plain.Stop()
	asService, err := operator(p)
	if err != nil {
		return err
	}
	withToken := asService
	asService.Token = ""
	type mode struct {
		name, addr string
		conn       grpctools.Conn
	}
	modes := []mode{
		{"plaintext", plain.Addr, grpctools.Conn{Plaintext: true}},
		{"mutual TLS (a service)", secure.Addr, asService},
		{"TLS + token (a user)", secure.Addr, withToken},
	}
	if *jaegerBin != "" {
		jaeger, err := monitoring.LaunchJaeger(*jaegerBin, filepath.Join(dir, "jaeger"), p.Dir)
		if err != nil {
			return err
		}
		defer jaeger.Stop()
		for _, ratio := range []string{"1", "0.01"} {
			traced, err := launch(p, "traced-"+ratio, "-trace_endpoint="+jaeger.OTLP, "-trace_sample_ratio="+ratio)
			if err != nil {
				return err
			}
			defer traced.Stop()
			modes = append(modes, mode{"TLS + token, traced " + ratio, traced.Addr, withToken})
		}
	}
	var baseline grpctools.LoadReport
	for i, m := range modes {
		report, err := measure(ctx, *ghz, m.addr, m.conn, l)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if i == 0 {
			baseline = report
		}
		fmt.Fprintf(out, "%-30s %s, %d concurrent: %s; %.2fx the plaintext time per call\n", m.name, l.Method, l.Concurrency, report, baseline.PerSecond/report.PerSecond)
	}
	return nil
}

// operator connects as the harness's service identity with an operator's
// token, in PKI p.
func operator(p *testproc.PKI) (grpctools.Conn, error) {
	if _, err := p.ServiceCredentials(testproc.Harness); err != nil { // issues its files
		return grpctools.Conn{}, err
	}
	token, err := p.Token("load", auth.TierNormal, auth.RoleAdmin)
	if err != nil {
		return grpctools.Conn{}, err
	}
	return grpctools.Conn{CA: p.Dir.CAFile(), Cert: p.Dir.CertFile(testproc.Harness), Key: p.Dir.KeyFile(testproc.Harness), Token: string(token)}, nil
}

// measure warms the service up with a short run, so that connection set-up and
// the first allocations are not in the figures, then measures l.
func measure(ctx context.Context, ghz, addr string, conn grpctools.Conn, l grpctools.Load) (grpctools.LoadReport, error) {
	warm := l
	warm.Requests = min(l.Requests, 1000)
	if _, err := grpctools.RunGhz(ctx, ghz, addr, conn, warm); err != nil {
		return grpctools.LoadReport{}, err
	}
	return grpctools.RunGhz(ctx, ghz, addr, conn, l)
}
