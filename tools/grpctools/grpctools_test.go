package grpctools

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeGhzReport(t *testing.T) {
	r, err := DecodeGhzReport([]byte(`{"count":2000,"rps":13456.8,"statusCodeDistribution":{"OK":1999,"Unavailable":1},
		"latencyDistribution":[{"percentage":50,"latency":495802},{"percentage":99,"latency":3546042}],"details":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 2000 || r.P50 != 495802*time.Nanosecond || r.P99 != 3546042*time.Nanosecond || r.Codes["Unavailable"] != 1 {
		t.Errorf("report = %+v", r)
	}
	if got, want := r.String(), "2000 calls, 13457 requests/s, p50 496µs, p99 3.546ms (OK 1999, Unavailable 1)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for body, want := range map[string]string{
		`{"rps":1}`: "no count",
		`{"count":5,"latencyDistribution":[{"percentage":50,"latency":1}]}`: "no 99th percentile",
		`Error: connection refused`:                                         "not a ghz JSON report",
	} {
		if _, err := DecodeGhzReport([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeGhzReport(%s) = %v, want an error with %q", body, err, want)
		}
	}
}

func FuzzDecodeGhzReport(f *testing.F) {
	f.Add([]byte(`{"count":1,"rps":1,"latencyDistribution":[{"percentage":99,"latency":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeGhzReport(data)
		if err == nil && r.Count > 0 && r.P99 == 0 {
			t.Errorf("accepted a report of %d calls without p99", r.Count)
		}
	})
}
