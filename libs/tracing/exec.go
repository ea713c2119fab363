package tracing

import (
	"context"
	"os/exec"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the spans of this package's helpers.
func tracer() trace.Tracer { return otel.Tracer("github.com/monoreel/monoreel/libs/tracing") }

// Run runs cmd (made with exec.CommandContext on ctx) as a child span named
// name of ctx's span, passing the span's context to the process in its
// environment (TRACEPARENT, TRACESTATE: the W3C names a traced program reads).
func Run(ctx context.Context, name string, cmd *exec.Cmd) error {
	end := Process(ctx, name, cmd)
	err := cmd.Run()
	end(err)
	return err
}

// Process is Run for a command its caller starts and waits for itself: call it
// before cmd.Start, and the returned end with the outcome once cmd has exited.
func Process(ctx context.Context, name string, cmd *exec.Cmd) (end func(error)) {
	ctx, span := tracer().Start(ctx, name, trace.WithAttributes(
		attribute.String("process.executable.path", cmd.Path),
		attribute.StringSlice("process.command_args", cmd.Args),
	))
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if cmd.Env == nil {
		cmd.Env = cmd.Environ()
	}
	for _, key := range []string{"traceparent", "tracestate"} {
		if value := carrier.Get(key); value != "" {
			cmd.Env = append(cmd.Env, strings.ToUpper(key)+"="+value)
		}
	}
	return func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		if cmd.ProcessState != nil {
			span.SetAttributes(attribute.Int("process.exit.code", cmd.ProcessState.ExitCode()))
		}
		span.End()
	}
}

// Parent returns the W3C traceparent of ctx's span ("" if it has none): to
// store with work that outlives the call (a workflow, a job) and continue
// later with Continue or Link.
func Parent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// Continue returns ctx carrying the span context of traceparent (from Parent),
// so spans started from it are its children.
func Continue(ctx context.Context, traceparent string) context.Context {
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Link is a link to the span of traceparent (from Parent): for work resumed
// by another process, which starts a trace of its own but says what it
// continues.
func Link(traceparent string) trace.Link {
	return trace.LinkFromContext(Continue(context.Background(), traceparent))
}
