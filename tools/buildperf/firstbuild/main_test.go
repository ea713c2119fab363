package main

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"
)

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sample is the shape of Bazel 7's profile: phase markers (instants) and
// repository fetches (complete events), times in microseconds.
const sample = `{"otherData":{},"traceEvents":[
{"cat":"build phase marker","name":"Launch Blaze","ph":"X","ts":-45000,"dur":45000},
{"cat":"build phase marker","name":"Initialize command","ph":"i","ts":0},
{"cat":"Fetching repository","name":"@@_main~_repo_rules~jaeger","ph":"X","ts":2000000,"dur":90000000},
{"cat":"Fetching repository","name":"@@_main~_repo_rules~npm","ph":"X","ts":1000000,"dur":3000000},
{"cat":"Fetching repository","name":"@@_main~_repo_rules~npm","ph":"X","ts":5000000,"dur":1000000},
{"cat":"build phase marker","name":"Load and analyze dependencies","ph":"i","ts":10000000},
{"cat":"build phase marker","name":"Execute actions","ph":"i","ts":100000000},
{"cat":"action processing","name":"GoLink a","ph":"X","ts":100000000,"dur":20000000,"args":{"mnemonic":"GoLink"}},
{"cat":"action processing","name":"GoCompilePkg a","ph":"X","ts":100000000,"dur":3000000,"args":{"mnemonic":"GoCompilePkg"}},
{"cat":"action processing","name":"GoCompilePkg b","ph":"X","ts":103000000,"dur":4000000,"args":{"mnemonic":"GoCompilePkg"}},
{"name":"CPU usage (total)","ph":"C","ts":100000000,"args":{"system cpu":1.5}},
{"name":"CPU usage (total)","ph":"C","ts":101000000,"args":{"system cpu":2.0}},
{"name":"CPU usage (Bazel)","ph":"C","ts":101000000,"args":{"cpu":0.5}}
]}`

func TestReadProfile(t *testing.T) {
	p, err := readProfile(bytes.NewReader(gzipped(t, sample)))
	if err != nil {
		t.Fatal(err)
	}
	wantPhases := []span{
		{"Launch Blaze", 45 * time.Millisecond},
		{"Initialize command", 10 * time.Second},
		{"Load and analyze dependencies", 90 * time.Second},
		{"Execute actions", 20 * time.Second},
	}
	if len(p.Phases) != len(wantPhases) {
		t.Fatalf("phases = %v, want %v", p.Phases, wantPhases)
	}
	for i, want := range wantPhases {
		if p.Phases[i] != want {
			t.Errorf("phase %d = %v, want %v", i, p.Phases[i], want)
		}
	}
	wantFetches := []span{{"@@_main~_repo_rules~jaeger", 90 * time.Second}, {"@@_main~_repo_rules~npm", 4 * time.Second}}
	if len(p.Fetches) != 2 || p.Fetches[0] != wantFetches[0] || p.Fetches[1] != wantFetches[1] {
		t.Errorf("fetches = %v, want %v (summed per repository, longest first)", p.Fetches, wantFetches)
	}
	wantMnemonics := []span{{"GoLink", 20 * time.Second}, {"GoCompilePkg", 7 * time.Second}}
	if len(p.Mnemonics) != 2 || p.Mnemonics[0] != wantMnemonics[0] || p.Mnemonics[1] != wantMnemonics[1] {
		t.Errorf("mnemonics = %v, want %v (summed per mnemonic, longest first)", p.Mnemonics, wantMnemonics)
	}
	if p.Actions["GoCompilePkg"] != 2 || p.Actions["GoLink"] != 1 {
		t.Errorf("actions = %v, want GoCompilePkg 2, GoLink 1", p.Actions)
	}
	// The machine's counter, not Bazel's own: (1.5 + 2.0) / 2.
	if p.CPU != 1.75 {
		t.Errorf("CPU = %v, want 1.75 (the mean of the machine's samples)", p.CPU)
	}
}

func TestReadProfileRefusesWhatIsNotOne(t *testing.T) {
	if _, err := readProfile(bytes.NewReader([]byte("plain text"))); err == nil {
		t.Error("a file that is not gzip was read as a profile")
	}
	if _, err := readProfile(bytes.NewReader(gzipped(t, "[1, 2"))); err == nil {
		t.Error("truncated JSON was read as a profile")
	}
}

func TestCriticalPathKeepsItsSection(t *testing.T) {
	out := "=== PHASE SUMMARY INFORMATION ===\nTotal launch phase time 1 s\nCritical path (10 s):\n       Time Percentage   Description\n    5 s   50%   action 'GoLink a'\n    5 s   50%   action 'GoCompilePkg b'\n"
	got := criticalPath(out, 1)
	if want := "   Critical path (10 s):\n          Time Percentage   Description\n       5 s   50%   action 'GoLink a'\n       5 s   50%   action 'GoCompilePkg b'"; got != want {
		t.Errorf("criticalPath =\n%s\nwant\n%s", got, want)
	}
}

func FuzzReadProfile(f *testing.F) {
	f.Add(gzipped(f, sample))
	f.Add(gzipped(f, `{"traceEvents":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := readProfile(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 1; i < len(p.Fetches); i++ {
			if p.Fetches[i].Duration > p.Fetches[i-1].Duration {
				t.Fatalf("fetches not longest first: %v", p.Fetches)
			}
		}
	})
}
