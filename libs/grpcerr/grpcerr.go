// Package grpcerr is the error model of every Monoreel gRPC API. A service
// declares, in one table (a Mapper), which of its domain errors become which gRPC
// code and which stable reason; ToStatus turns any error a handler returns into a
// status carrying a common.v1.ErrorInfo (reason, domain, metadata), and a client
// reads it back with Info, or with FromStatus gets the domain error again.
//
// An error no rule names is a bug or an outage the service did not foresee: it
// becomes Internal, never Unavailable, because clients retry Unavailable and
// retrying a bug only multiplies it. A service that knows an error is transient
// says so with a rule.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/monoreel/monoreel/proto/common/v1"
)

// Reasons of the statuses ToStatus makes without a service's rule.
const (
	ReasonInternal         = "INTERNAL"
	ReasonCanceled         = "CANCELED"
	ReasonDeadlineExceeded = "DEADLINE_EXCEEDED"
)

// Rule maps the errors that match Err (errors.Is) to Code and Reason.
type Rule struct {
	Err    error
	Code   codes.Code
	Reason string // UPPER_SNAKE_CASE, unique within the Mapper's domain
}

// Mapper is a service's error table.
type Mapper struct {
	Domain string // e.g. "monoreel.config"; names who gave the reason
	Rules  []Rule // the first that matches wins
}

// contextRules come after a service's own rules and after statuses, which say
// more about a cancelled call (whose deadline, which hop) than the bare error.
var contextRules = []Rule{
	{Err: context.Canceled, Code: codes.Canceled, Reason: ReasonCanceled},
	{Err: context.DeadlineExceeded, Code: codes.DeadlineExceeded, Reason: ReasonDeadlineExceeded},
}

// MetadataError is an error with facts for its ErrorInfo's metadata, e.g. how far
// a clock moved back. Domain packages implement it without importing grpcerr.
type MetadataError interface {
	error
	ErrorMetadata() map[string]string
}

// ToStatus returns err as a gRPC status error (nil for nil), in this order:
// the first of m.Rules that matches; err itself if it already is or wraps a
// status (a handler's own, or a downstream service's passed on); Canceled or
// DeadlineExceeded for the context errors; Internal for anything else. The
// message is err's text; the statuses made here carry an ErrorInfo with the
// rule's reason, m.Domain and the metadata of the first MetadataError in err.
func (m Mapper) ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if r, ok := match(m.Rules, err); ok {
		return m.status(err, r)
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	if r, ok := match(contextRules, err); ok {
		return m.status(err, r)
	}
	return m.status(err, Rule{Code: codes.Internal, Reason: ReasonInternal})
}

func match(rules []Rule, err error) (Rule, bool) {
	for _, r := range rules {
		if errors.Is(err, r.Err) {
			return r, true
		}
	}
	return Rule{}, false
}

func (m Mapper) status(err error, r Rule) error {
	info := &commonv1.ErrorInfo{Reason: r.Reason, Domain: m.Domain}
	if me, ok := errors.AsType[MetadataError](err); ok {
		info.Metadata = me.ErrorMetadata()
	}
	st := status.New(r.Code, err.Error())
	// WithDetails fails only for codes.OK, which no rule of an error has.
	if withInfo, derr := st.WithDetails(info); derr == nil {
		st = withInfo
	}
	return st.Err()
}

// Info returns the ErrorInfo that err's status carries (err may wrap the
// status), or nil if it carries none or err is not a status.
func Info(err error) *commonv1.ErrorInfo {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*commonv1.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// Reason returns the reason of err's ErrorInfo, "" if it has none.
func Reason(err error) string { return Info(err).GetReason() }

// FromStatus is ToStatus undone, for a client of the service: if err's ErrorInfo
// has m's domain and the reason of one of m's rules, it returns an error that
// matches the rule's Err (errors.Is) and still is the status (status.Code, Info);
// otherwise err unchanged.
func (m Mapper) FromStatus(err error) error {
	info := Info(err)
	if info == nil || info.GetDomain() != m.Domain {
		return err
	}
	for _, r := range m.Rules {
		if r.Reason == info.GetReason() {
			return &remoteError{st: status.Convert(err), err: r.Err}
		}
	}
	return err
}

// remoteError is a domain error that came over the wire.
type remoteError struct {
	st  *status.Status
	err error
}

// Error is the server's text, which reads as the error would have locally.
func (e *remoteError) Error() string              { return e.st.Message() }
func (e *remoteError) Unwrap() error              { return e.err }
func (e *remoteError) GRPCStatus() *status.Status { return e.st }
