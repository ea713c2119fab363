package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/monoreel/monoreel/libs/testproc"
)

// fleet is what -replicas above 1 adds to the stack: a real etcd (discovery,
// the config center's store, idgen's worker leases, the orchestrators' shared
// workflows) and a real Redis (danmaku's relay, the orchestrators' cache),
// from the Debian packages etcd-server and redis-server, on loopback.
type fleet struct {
	replicas  int
	etcd      *testproc.Process
	etcdAddr  string
	redis     *testproc.Process
	redisAddr string
	registry  *clientv3.Client // devstack's own: it resolves etcd:///<service> too
	stopOnce  sync.Once
}

// startFleet starts etcd and Redis under dir, their logs in dir/logs.
func startFleet(dir, etcdBin, redisBin string, replicas int) (*fleet, error) {
	f := &fleet{replicas: replicas}
	var err error
	if f.etcd, f.etcdAddr, err = testproc.LaunchEtcd(etcdBin, filepath.Join(dir, "etcd"), filepath.Join(dir, "logs", "etcd.log")); err != nil {
		return nil, err
	}
	if f.redisAddr, err = testproc.PickAddr(); err == nil {
		f.redis, err = testproc.LaunchRedis(redisBin, f.redisAddr, filepath.Join(dir, "logs", "redis.log"))
	}
	if err == nil {
		f.registry, err = clientv3.New(clientv3.Config{Endpoints: []string{f.etcdAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	}
	if err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// args are the flags that make instance i of service name one of a fleet,
// replacing (by coming last) the embedded defaults' flags where they differ.
func (f *fleet) args(name string, i int, dir string) []string {
	args := []string{"-registry=" + f.etcdAddr}
	switch name {
	case "config":
		args = append(args, "-backend=etcd", "-etcd_endpoints="+f.etcdAddr)
	case "idgen":
		args = append(args, "-etcd_endpoints="+f.etcdAddr)
	case "transcode", "cdnpush": // a journal per instance; outputs shared
		args = append(args, "-jobs_file="+filepath.Join(dir, name, fmt.Sprint(i), "jobs.json"))
	case "orchestrator": // a dead instance's workflows are taken over within 3s
		args = append(args, fmt.Sprintf("-instance=devstack-%d", i), "-lease=3s", "-cache_redis="+f.redisAddr)
	case "danmaku":
		args = append(args, "-relay_redis="+f.redisAddr)
	}
	return args
}

// stop stops Redis and etcd.
func (f *fleet) stop() {
	f.stopOnce.Do(func() {
		if f.registry != nil {
			f.registry.Close()
		}
		for _, p := range []*testproc.Process{f.redis, f.etcd} {
			if p != nil {
				p.Stop()
			}
		}
	})
}

// killSteps are the scenario's steps a kill may land in: those that call the
// services (the later ones check what the platform kept).
var killSteps = []string{stepUpload, stepPublish, stepDanmaku}

// kill is one SIGKILL of the harness: an instance, and when.
type kill struct {
	service  string
	instance int
	step     string        // the scenario's step it lands in
	after    time.Duration // into the step
	at       time.Duration // since the scenario started, once done
}

// chaos kills one instance of every service at a random moment of the
// scenario: a random step of killSteps, a random time into it (up to 2s, so it
// lands while the step runs or soon after). The seed makes a run repeatable.
type chaos struct {
	seed  uint64
	start time.Time
	mu    sync.Mutex
	plan  []*kill
	done  []*kill
	wg    sync.WaitGroup
}

func newChaos(seed uint64, services []string, replicas int) *chaos {
	rng := rand.New(rand.NewPCG(seed, seed))
	c := &chaos{seed: seed, start: time.Now()}
	for _, name := range services {
		c.plan = append(c.plan, &kill{service: name, instance: rng.IntN(replicas),
			step: killSteps[rng.IntN(len(killSteps))], after: time.Duration(rng.Int64N(int64(2 * time.Second)))})
	}
	return c
}

// stepStarted sets off the kills planned for step.
func (c *chaos) stepStarted(st *stack, step string, log io.Writer) {
	for _, k := range c.plan {
		if k.step != step {
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			time.Sleep(k.after)
			st.kill(k.service, k.instance)
			c.mu.Lock()
			k.at = time.Since(c.start)
			c.done = append(c.done, k)
			c.mu.Unlock()
			fmt.Fprintf(log, "  [killed %s-%d (SIGKILL), %v into %q]\n", k.service, k.instance, k.after.Round(time.Millisecond), k.step)
		}()
	}
}

// wait waits for the kills set off, so every one has happened.
func (c *chaos) wait() { c.wg.Wait() }

// summary describes the kills done, in order.
func (c *chaos) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	done := slices.Clone(c.done)
	sort.Slice(done, func(i, j int) bool { return done[i].at < done[j].at })
	var parts []string
	for _, k := range done {
		parts = append(parts, fmt.Sprintf("%s-%d at %v (%s)", k.service, k.instance, k.at.Round(time.Millisecond), k.step))
	}
	return fmt.Sprintf("%d of %d planned (seed %d): %s", len(done), len(c.plan), c.seed, strings.Join(parts, ", "))
}

// retryUnavailable calls fn until it returns anything but Unavailable (an
// instance died under the call; the balancer sends the next to a live one), for
// up to a minute.
func retryUnavailable(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := fn()
		if !unavailable(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func unavailable(err error) bool { return status.Code(err) == codes.Unavailable }
