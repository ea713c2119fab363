// Package warm is cdnpush's engine: jobs that prefetch keys on HTTP edge caches.
// Every key-edge pair is an HTTP GET of edge/key (the edge fetches it from the
// origin and keeps it), run by a bounded pool of workers shared by all jobs,
// retried with exponential backoff and full jitter on timeouts, connection errors
// and 5xx answers (a 4xx is final), and skipped when the same pair was warmed
// within Options.Fresh.
package warm

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/monoreel/monoreel/libs/atomicfile"
)

// Options configures an Engine.
type Options struct {
	Client      *http.Client  // http.DefaultClient if nil
	Concurrency int           // requests in flight at once (16)
	Attempts    int           // tries per pair (4)
	BaseBackoff time.Duration // first retry's mean wait (100ms); doubles each time
	MaxBackoff  time.Duration // cap on a wait (5s)
	Timeout     time.Duration // per request (10s)
	Fresh       time.Duration // a warm pair is not warmed again for this long (10m)
	Edges       []string      // default edges for requests naming none
	KeepJobs    int           // jobs remembered for Status and idempotency (10000)
	// Journal, if set, is the file the jobs are kept in (Open): a restarted
	// engine reports them and warms again the pairs left pending.
	Journal string
	Now     func() time.Time
}

// PairState is where one key on one edge stands.
type PairState int

// Pair states.
const (
	Pending PairState = iota
	Warm
	AlreadyWarm
	Failed
)

// Pair is one key on one edge.
type Pair struct {
	Key, Edge string
	State     PairState
	Attempts  int
	Err       string
	Took      time.Duration
}

// Job is a snapshot of one Warm request's progress.
type Job struct {
	ID    string
	Pairs []Pair
}

// Settled reports whether no pair is pending, and whether any failed.
func (j Job) Settled() (settled, failed bool) {
	for _, p := range j.Pairs {
		switch p.State {
		case Pending:
			return false, false
		case Failed:
			failed = true
		}
	}
	return true, failed
}

// Engine runs jobs.
type Engine struct {
	opts Options
	sem  chan struct{}

	mu        sync.Mutex
	jobs      map[string]*job
	order     []*job // oldest first, for forgetting
	byIdemKey map[string]string
	warmAt    map[[2]string]time.Time // key, edge -> when it was last warmed
}

type job struct {
	id, idemKey string
	pairs       []Pair
}

// savedJob is a job as the journal keeps it.
type savedJob struct {
	ID, IdemKey string
	Pairs       []Pair
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	opts.Concurrency = cmp.Or(opts.Concurrency, 16)
	opts.Attempts = cmp.Or(opts.Attempts, 4)
	opts.BaseBackoff = cmp.Or(opts.BaseBackoff, 100*time.Millisecond)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, 5*time.Second)
	opts.Timeout = cmp.Or(opts.Timeout, 10*time.Second)
	opts.Fresh = cmp.Or(opts.Fresh, 10*time.Minute)
	opts.KeepJobs = cmp.Or(opts.KeepJobs, 10000)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{opts: opts, sem: make(chan struct{}, opts.Concurrency), jobs: map[string]*job{},
		byIdemKey: map[string]string{}, warmAt: map[[2]string]time.Time{}}
}

// Open is New, first loading the jobs of Options.Journal (if it exists). Call
// Resume to warm the pairs they left pending.
func Open(opts Options) (*Engine, error) {
	e := New(opts)
	if opts.Journal == "" {
		return e, nil
	}
	data, err := os.ReadFile(opts.Journal)
	if errors.Is(err, fs.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	var saved []savedJob
	if err := json.Unmarshal(data, &saved); err != nil {
		return nil, fmt.Errorf("the warm-up journal %s: %w", opts.Journal, err)
	}
	for _, s := range saved {
		if s.ID == "" || e.jobs[s.ID] != nil {
			return nil, fmt.Errorf("the warm-up journal %s: job id %q missing or repeated", opts.Journal, s.ID)
		}
		for _, p := range s.Pairs {
			if p.State < Pending || p.State > Failed {
				return nil, fmt.Errorf("the warm-up journal %s: job %s: pair state %d", opts.Journal, s.ID, p.State)
			}
		}
		j := &job{id: s.ID, idemKey: s.IdemKey, pairs: s.Pairs}
		e.jobs[j.id] = j
		e.order = append(e.order, j)
		if j.idemKey != "" {
			e.byIdemKey[j.idemKey] = j.id
		}
	}
	return e, nil
}

// Resume warms the pairs that jobs loaded by Open left pending, bounded by ctx
// like Start's, and returns how many.
func (e *Engine) Resume(ctx context.Context) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, j := range e.order {
		for i, p := range j.pairs {
			if p.State == Pending {
				go e.warm(ctx, j, i)
				n++
			}
		}
	}
	return n
}

// persistLocked writes every job to the journal; e.mu is held. A failed write
// is tried again at the next change (the journal lags, it is never torn).
func (e *Engine) persistLocked() {
	if e.opts.Journal == "" {
		return
	}
	saved := make([]savedJob, 0, len(e.order))
	for _, j := range e.order {
		saved = append(saved, savedJob{ID: j.id, IdemKey: j.idemKey, Pairs: j.pairs})
	}
	if data, err := json.Marshal(saved); err == nil {
		atomicfile.Write(e.opts.Journal, data, 0o644)
	}
}

// ErrInvalid is wrapped by the errors of a request that cannot be run.
var ErrInvalid = errors.New("invalid warm-up request")

// Start validates a request and starts its job; ctx bounds the job's requests
// (use a context that outlives the RPC). An idempotency key already used returns
// that job, existing true. alreadyWarm counts the pairs skipped as fresh.
func (e *Engine) Start(ctx context.Context, keys, edges []string, idemKey string) (id string, existing bool, alreadyWarm int, err error) {
	if len(edges) == 0 {
		edges = e.opts.Edges
	}
	if err := validate(keys, edges); err != nil {
		return "", false, 0, err
	}
	e.mu.Lock()
	if id, ok := e.byIdemKey[idemKey]; ok && idemKey != "" {
		e.mu.Unlock()
		return id, true, 0, nil
	}
	j := &job{id: newID(), idemKey: idemKey}
	now := e.opts.Now()
	e.forget(now)
	var todo []int
	for _, k := range dedupe(keys) {
		for _, edge := range dedupe(edges) {
			p := Pair{Key: k, Edge: edge}
			if at, ok := e.warmAt[[2]string{k, edge}]; ok && now.Sub(at) < e.opts.Fresh {
				p.State = AlreadyWarm
				alreadyWarm++
			} else {
				todo = append(todo, len(j.pairs))
			}
			j.pairs = append(j.pairs, p)
		}
	}
	e.jobs[j.id] = j
	e.order = append(e.order, j)
	if idemKey != "" {
		e.byIdemKey[idemKey] = j.id
	}
	e.persistLocked()
	e.mu.Unlock()
	for _, i := range todo {
		go e.warm(ctx, j, i)
	}
	return j.id, false, alreadyWarm, nil
}

// forget drops the oldest jobs beyond KeepJobs and warm marks gone stale, so
// memory stays bounded; e.mu is held.
func (e *Engine) forget(now time.Time) {
	for len(e.order) >= e.opts.KeepJobs {
		old := e.order[0]
		e.order = e.order[1:]
		delete(e.jobs, old.id)
		if e.byIdemKey[old.idemKey] == old.id {
			delete(e.byIdemKey, old.idemKey)
		}
	}
	if len(e.warmAt) > 16*e.opts.KeepJobs {
		for pair, at := range e.warmAt {
			if now.Sub(at) >= e.opts.Fresh {
				delete(e.warmAt, pair)
			}
		}
	}
}

func validate(keys, edges []string) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no keys", ErrInvalid)
	}
	if len(edges) == 0 {
		return fmt.Errorf("%w: no edges (none given, none configured)", ErrInvalid)
	}
	for _, k := range keys {
		if k == "" || strings.HasPrefix(k, "/") || strings.Contains(k, "..") {
			return fmt.Errorf("%w: key %q: want a relative path without ..", ErrInvalid, k)
		}
	}
	for _, edge := range edges {
		u, err := url.Parse(edge)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: edge %q: want an http(s) base URL", ErrInvalid, edge)
		}
	}
	return nil
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Job returns a snapshot of a job.
func (e *Engine) Job(id string) (Job, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok {
		return Job{}, false
	}
	return Job{ID: j.id, Pairs: append([]Pair(nil), j.pairs...)}, true
}

// warm runs pair i of j to an outcome.
func (e *Engine) warm(ctx context.Context, j *job, i int) {
	e.mu.Lock()
	p := j.pairs[i]
	e.mu.Unlock()
	start := e.opts.Now()
	var err error
	attempts := 0
	for attempts < e.opts.Attempts {
		if attempts > 0 {
			if !sleep(ctx, e.backoff(attempts)) {
				err = ctx.Err()
				break
			}
		}
		attempts++
		var retry bool
		retry, err = e.fetch(ctx, p.Key, p.Edge)
		if err == nil || !retry {
			break
		}
	}
	if err != nil && ctx.Err() != nil {
		return // stopping: the pair stays pending, for the next engine (journal)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p = j.pairs[i]
	p.Attempts, p.Took = attempts, e.opts.Now().Sub(start)
	if err != nil {
		p.State, p.Err = Failed, err.Error()
	} else {
		p.State = Warm
		e.warmAt[[2]string{p.Key, p.Edge}] = e.opts.Now()
	}
	j.pairs[i] = p
	e.persistLocked()
}

// backoff is the wait before retry n (1, 2, ...): uniform in [0, base*2^(n-1)],
// capped ("full jitter"), so that retries of many pairs spread out.
func (e *Engine) backoff(n int) time.Duration {
	ceiling := e.opts.BaseBackoff << (n - 1)
	if ceiling > e.opts.MaxBackoff || ceiling <= 0 {
		ceiling = e.opts.MaxBackoff
	}
	return time.Duration(mathrand.Int64N(int64(ceiling) + 1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetch asks edge for key once, holding a slot of the pool. retry says whether
// a failure is worth another attempt.
func (e *Engine) fetch(ctx context.Context, key, edge string) (retry bool, err error) {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-e.sem }()
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(edge, "/")+"/"+key, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("X-Monoreel-Prefetch", "1")
	resp, err := e.opts.Client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	// The edge caches the object as it serves it: read it all.
	io.Copy(io.Discard, resp.Body)
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("%s: %s", req.URL, resp.Status)
	case resp.StatusCode >= 400:
		return false, fmt.Errorf("%s: %s (not retried)", req.URL, resp.Status)
	}
	return false, nil
}
