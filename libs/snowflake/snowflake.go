// Package snowflake generates 64-bit, time-ordered, unique IDs.
//
// An ID is, from the most significant bit: one zero sign bit, a 41-bit count of
// milliseconds since a configurable epoch (about 69 years), a 10-bit worker id and
// a 12-bit per-millisecond sequence. One worker issues at most 4096 IDs per
// millisecond; when the sequence runs out it waits for the next millisecond.
//
// IDs from one Generator strictly increase, even when the wall clock steps back:
// a small step (under RollbackSpinLimit) is waited out, a medium one (under
// RollbackSleepLimit) is slept through with a warning, and a larger one makes Next
// return a *ClockRollbackError instead of an ID that could repeat or go backwards.
package snowflake

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Field widths of an ID.
const (
	TimestampBits = 41
	WorkerBits    = 10
	SequenceBits  = 12

	// MaxWorkerID is the largest worker id an ID can carry.
	MaxWorkerID    = 1<<WorkerBits - 1
	maxSequence    = 1<<SequenceBits - 1
	maxTimestamp   = 1<<TimestampBits - 1
	workerShift    = SequenceBits
	timestampShift = SequenceBits + WorkerBits
)

// MaxIDsPerSecond is the format's limit for one worker: 4096 IDs per millisecond.
const MaxIDsPerSecond = (maxSequence + 1) * 1000

// Defaults for the clock-rollback policy.
const (
	DefaultRollbackSpinLimit  = 10 * time.Millisecond
	DefaultRollbackSleepLimit = 50 * time.Millisecond
)

// DefaultEpoch is the epoch IDs count from unless Config.Epoch says otherwise.
var DefaultEpoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// ErrTimestampOutOfRange is returned when the clock is before the epoch or more
// than 2^41 milliseconds after it.
var ErrTimestampOutOfRange = errors.New("snowflake: clock outside the range the epoch allows")

// ClockRollbackError is returned by Next when the clock is further behind the last
// issued timestamp than the policy is willing to wait.
type ClockRollbackError struct {
	Behind time.Duration // how far the clock is behind the last issued ID
	Limit  time.Duration // the most the generator waits
}

func (e *ClockRollbackError) Error() string {
	return fmt.Sprintf("snowflake: clock moved backwards by %v (waits at most %v); refusing to issue IDs", e.Behind, e.Limit)
}

// ErrClockMovedBackwards matches (errors.Is) every *ClockRollbackError, so an
// error table of sentinels (libs/grpcerr) can name it.
var ErrClockMovedBackwards = errors.New("snowflake: clock moved backwards")

// Is reports whether target is ErrClockMovedBackwards.
func (e *ClockRollbackError) Is(target error) bool { return target == ErrClockMovedBackwards }

// ErrorMetadata is what a caller may act on (libs/grpcerr puts it in the
// status): how far behind the clock is, and how long the generator would wait.
func (e *ClockRollbackError) ErrorMetadata() map[string]string {
	return map[string]string{
		"behind_ms": strconv.FormatInt(e.Behind.Milliseconds(), 10),
		"limit_ms":  strconv.FormatInt(e.Limit.Milliseconds(), 10),
	}
}

// Clock is the source of time, injectable for tests.
type Clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type systemClock struct{}

func (systemClock) Now() time.Time        { return time.Now() }
func (systemClock) Sleep(d time.Duration) { time.Sleep(d) }

// Config configures a Generator. Only WorkerID is required.
type Config struct {
	WorkerID int64
	// Epoch is the zero of the timestamp field; DefaultEpoch when zero.
	Epoch time.Time
	// NotBefore makes the generator behave as if it had already issued an ID at
	// that instant, e.g. the last timestamp persisted before a restart, so a clock
	// that is behind it is treated as a rollback.
	NotBefore time.Time
	// RollbackSpinLimit and RollbackSleepLimit bound the rollback policy; the
	// package defaults when zero.
	RollbackSpinLimit  time.Duration
	RollbackSleepLimit time.Duration
	Clock              Clock        // the system clock when nil
	Logger             *slog.Logger // slog.Default() when nil
}

// Generator issues IDs for one worker. It is safe for concurrent use.
type Generator struct {
	worker     int64
	epochMs    int64
	spinLimit  time.Duration
	sleepLimit time.Duration
	clock      Clock
	log        *slog.Logger

	mu       sync.Mutex
	lastMs   int64 // milliseconds since the epoch of the last issued ID
	sequence int64
}

// New returns a Generator for cfg.WorkerID.
func New(cfg Config) (*Generator, error) {
	if cfg.WorkerID < 0 || cfg.WorkerID > MaxWorkerID {
		return nil, fmt.Errorf("snowflake: worker id %d outside 0..%d", cfg.WorkerID, MaxWorkerID)
	}
	g := &Generator{
		worker:     cfg.WorkerID,
		epochMs:    DefaultEpoch.UnixMilli(),
		spinLimit:  DefaultRollbackSpinLimit,
		sleepLimit: DefaultRollbackSleepLimit,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		lastMs:     -1,
	}
	if !cfg.Epoch.IsZero() {
		g.epochMs = cfg.Epoch.UnixMilli()
	}
	if cfg.RollbackSpinLimit > 0 {
		g.spinLimit = cfg.RollbackSpinLimit
	}
	if cfg.RollbackSleepLimit > 0 {
		g.sleepLimit = cfg.RollbackSleepLimit
	}
	if g.spinLimit > g.sleepLimit {
		return nil, fmt.Errorf("snowflake: rollback spin limit %v exceeds sleep limit %v", g.spinLimit, g.sleepLimit)
	}
	if g.clock == nil {
		g.clock = systemClock{}
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if !cfg.NotBefore.IsZero() {
		g.lastMs = cfg.NotBefore.UnixMilli() - g.epochMs
		g.sequence = maxSequence // the next ID must come from a later millisecond
	}
	return g, nil
}

// WorkerID returns the worker id encoded in every ID of g.
func (g *Generator) WorkerID() int64 { return g.worker }

// Next returns a new ID, larger than every ID g issued before.
func (g *Generator) Next() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nextLocked()
}

// NextN appends n new IDs, in increasing order, to dst and returns it. On error it
// returns the IDs issued so far with the error; none of them is ever issued again.
func (g *Generator) NextN(dst []int64, n int) ([]int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		id, err := g.nextLocked()
		if err != nil {
			return dst, err
		}
		dst = append(dst, id)
	}
	return dst, nil
}

// LastTimestamp returns the instant of the last issued ID (zero if none), to be
// persisted and passed back as Config.NotBefore after a restart.
func (g *Generator) LastTimestamp() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastMs < 0 {
		return time.Time{}
	}
	return time.UnixMilli(g.lastMs + g.epochMs).UTC()
}

func (g *Generator) nowMs() int64 { return g.clock.Now().UnixMilli() - g.epochMs }

func (g *Generator) nextLocked() (int64, error) {
	now := g.nowMs()
	if now < 0 {
		return 0, fmt.Errorf("%w: %d ms before the epoch", ErrTimestampOutOfRange, -now)
	}
	if now < g.lastMs {
		var err error
		if now, err = g.waitOutRollback(now); err != nil {
			return 0, err
		}
	}
	if now == g.lastMs {
		g.sequence = (g.sequence + 1) & maxSequence
		if g.sequence == 0 {
			// 4096 IDs in this millisecond already: wait for the next one. The wait is
			// under a millisecond, shorter than a sleep's granularity, so spin.
			for now <= g.lastMs {
				now = g.nowMs()
			}
		}
	}
	if now != g.lastMs {
		g.sequence = 0
	}
	if now > maxTimestamp {
		return 0, fmt.Errorf("%w: %d ms after the epoch", ErrTimestampOutOfRange, now)
	}
	g.lastMs = now
	return now<<timestampShift | g.worker<<workerShift | g.sequence, nil
}

// waitOutRollback applies the rollback policy to a clock at now, behind lastMs,
// and returns the clock reading once it has caught up.
func (g *Generator) waitOutRollback(now int64) (int64, error) {
	behind := time.Duration(g.lastMs-now) * time.Millisecond
	switch {
	case behind < g.spinLimit:
		// Small steps (NTP slews, VM pauses) pass quickly: wait in short sleeps.
		for now < g.lastMs {
			g.clock.Sleep(100 * time.Microsecond)
			now = g.nowMs()
		}
	case behind <= g.sleepLimit:
		g.log.Warn("snowflake: clock moved backwards; sleeping until it catches up",
			"behind", behind, "worker", g.worker)
		g.clock.Sleep(behind)
		if now = g.nowMs(); now < g.lastMs {
			return 0, &ClockRollbackError{Behind: time.Duration(g.lastMs-now) * time.Millisecond, Limit: g.sleepLimit}
		}
	default:
		return 0, &ClockRollbackError{Behind: behind, Limit: g.sleepLimit}
	}
	return now, nil
}

// Parts is an ID taken apart.
type Parts struct {
	Time     time.Time
	WorkerID int64
	Sequence int64
}

// Decompose takes apart an ID issued with the given epoch (DefaultEpoch when zero).
func Decompose(id int64, epoch time.Time) Parts {
	if epoch.IsZero() {
		epoch = DefaultEpoch
	}
	return Parts{
		Time:     time.UnixMilli(epoch.UnixMilli() + id>>timestampShift).UTC(),
		WorkerID: id >> workerShift & MaxWorkerID,
		Sequence: id & maxSequence,
	}
}
