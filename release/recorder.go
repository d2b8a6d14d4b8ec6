package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/dbtx"
	"github.com/rollsafe/rollsafe/internal/tick"
)

// MaxPendingSamples is how many sample rows a [Recorder] keeps while its
// writes fail; beyond it the oldest are dropped (logged, and counted in
// [RecorderStats].Dropped).
const MaxPendingSamples = 300

// FinalFlushTimeout bounds the last write [Recorder.Run] attempts once its
// context has ended.
const FinalFlushTimeout = 5 * time.Second

// ErrRecorderRunning is returned by [Recorder.Run] while another Run of the
// same Recorder has not returned.
var ErrRecorderRunning = errors.New("recorder is running already")

// Recorder writes, every interval, the calls of this instance's Switches
// whose flags are part of a running release: per flag and arm (canary is the
// new path, baseline the old), how many calls, errors, panics and timed
// calls, their total latency and their latency histogram, into the samples
// table that the release's driver sums over every instance. It only reads
// the Switches' counters, which are atomic: a call pays nothing for being
// recorded.
//
// # Deltas, and why nothing counts twice
//
// A Switch counts since it was created; a Recorder writes what the counts
// grew by since its previous tick, each arm in a row keyed by (release,
// flag, instance, arm, end), where end is the tick's time in milliseconds
// and start the previous tick's. A key is written once: a row whose key is
// stored already is skipped, not added to. So:
//
//   - A write that fails keeps its rows, keys and all, and they go again
//     with the next tick's. If the failed write had committed after all (its
//     answer was lost), the retry finds the keys and adds nothing.
//   - A tick never reuses the time of its flag's previous one: when the
//     clock has not moved past it (or went back), end is one millisecond
//     after it, so that two deltas never share a key.
//   - The first tick that finds a flag in a release, or in another release
//     than before, only takes the counts as its starting point: calls made
//     before do not count. A restarted instance has a new Switch and a new
//     Recorder, whose first tick starts from the new Switch's counts; what
//     the old process wrote stays as it was, and what it had not written is
//     lost, never counted again.
//   - Counts that shrank (a source replaced behind the Recorder's back)
//     make a new starting point, never a negative delta.
//
// A Recorder is safe for concurrent use. Create it with [NewRecorder]; the
// zero value is not usable.
type Recorder struct {
	db       *sql.DB
	d        dialect.Dialect
	instance string
	cfg      recorderConfig

	running atomic.Bool

	mu      sync.Mutex // guards tracked and order
	tracked map[string]*trackedFlag
	order   []*trackedFlag

	// flushMu makes ticks one at a time, and guards what follows and the
	// sampling fields of every trackedFlag.
	flushMu   sync.Mutex
	ensured   bool
	pending   []sample
	lastPrune time.Time

	flushes, failures, written, dropped atomic.Uint64
	pendingN                            atomic.Int64
}

// trackedFlag is one tracked source and where its samples stand.
type trackedFlag struct {
	src  StatsSource
	flag string
	// release is the release the counts in last were taken in; empty while
	// the flag is in none.
	release string
	last    flags.SwitchStats
	lastMs  int64
}

// RecorderStats are a [Recorder]'s own counts since it was created.
type RecorderStats struct {
	// Flushes is how many ticks ran ([Recorder.Flush] and Run's);
	// Failures how many of them returned an error.
	Flushes, Failures uint64
	// Written is how many sample rows were sent in committed transactions
	// (a row already stored counts, though the database kept the first).
	Written uint64
	// Pending is how many rows wait for the next tick, after a failed
	// write.
	Pending int
	// Dropped is how many rows were given up, the oldest first, to keep
	// Pending at [MaxPendingSamples] or under.
	Dropped uint64
}

// NewRecorder returns a Recorder that writes the samples of this instance
// to db, in the dialect d. instance is the instance's id in the fleet
// (fleet.Membership.ID), 1 to [MaxIDLen] bytes: every row it writes carries
// it, so that the driver counts instances, and the Recorder's retention
// deletes only its own rows. The tables are created at the first tick, not
// here. NewRecorder returns an error when db is nil, d is not a dialect,
// instance is empty or too long, or an option refuses its argument.
func NewRecorder(db *sql.DB, d dialect.Dialect, instance string, opts ...RecorderOption) (*Recorder, error) {
	if db == nil {
		return nil, errors.New("release: new recorder: nil db")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("release: new recorder: %w", err)
	}
	if instance == "" {
		return nil, errors.New("release: new recorder: empty instance id")
	}
	if len(instance) > MaxIDLen {
		return nil, fmt.Errorf("release: new recorder: instance id of %d bytes is longer than %d", len(instance), MaxIDLen)
	}
	cfg := defaultRecorderConfig()
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("release: new recorder: option %d is nil", i)
		}
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("release: new recorder: %w", err)
		}
	}
	return &Recorder{db: db, d: d, instance: instance, cfg: cfg, tracked: map[string]*trackedFlag{}}, nil
}

// Track adds s to the sources the Recorder samples; it is sampled from the
// next tick on, once its flag is part of a running release. It returns an
// error when s is nil, its flag is empty or longer than [MaxIDLen], or a
// source of the same flag is tracked already.
func (r *Recorder) Track(s StatsSource) error {
	if s == nil {
		return errors.New("release: recorder: track: nil source")
	}
	flag := s.Flag()
	if flag == "" {
		return errors.New("release: recorder: track: empty flag key")
	}
	if len(flag) > MaxIDLen {
		return fmt.Errorf("release: recorder: track: flag key of %d bytes is longer than %d", len(flag), MaxIDLen)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tracked[flag]; ok {
		return fmt.Errorf("release: recorder: track %q: a source of this flag is tracked already", flag)
	}
	f := &trackedFlag{src: s, flag: flag}
	r.tracked[flag] = f
	r.order = append(r.order, f)
	return nil
}

// Stats returns the Recorder's own counts.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{
		Flushes:  r.flushes.Load(),
		Failures: r.failures.Load(),
		Written:  r.written.Load(),
		Pending:  int(r.pendingN.Load()),
		Dropped:  r.dropped.Load(),
	}
}

// Run ticks every sample interval ([WithSampleInterval]), first at once,
// until ctx ends; each tick is a [Recorder.Flush]. A failed tick is logged
// (a warning at the first failure, then at debug level until a tick
// succeeds again) and its rows wait for the next. When ctx ends, Run makes
// a last Flush bounded by [FinalFlushTimeout] and returns ctx.Err(). A
// second Run while one runs returns [ErrRecorderRunning] at once.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return fmt.Errorf("release: recorder %s: %w", r.instance, ErrRecorderRunning)
	}
	defer r.running.Store(false)
	failing := false
	round := func(ctx context.Context) {
		err := r.Flush(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			r.cfg.logger.Warn("release: recorder: samples not written; retrying at every tick", "instance", r.instance, "error", err)
		case err != nil:
			r.cfg.logger.Debug("release: recorder: samples not written", "instance", r.instance, "error", err)
		case failing:
			failing = false
			r.cfg.logger.Info("release: recorder: samples written again", "instance", r.instance)
		}
	}
	round(ctx)
	tick.Every(ctx, r.cfg.interval, round)
	last, cancel := context.WithTimeout(context.WithoutCancel(ctx), FinalFlushTimeout)
	defer cancel()
	if err := r.Flush(last); err != nil {
		r.cfg.logger.Warn("release: recorder: last samples not written", "instance", r.instance, "error", err)
	}
	return ctx.Err()
}

// Flush ticks now: it creates the tables unless an earlier tick did, reads
// which tracked flags are part of a running release (one query), turns what
// each one's counts grew by since its previous tick into rows, and writes
// them with the rows of earlier failed ticks in one transaction. Rows whose
// counts are all zero are not written. On error the rows stay pending for
// the next tick; nothing is lost unless more than [MaxPendingSamples] wait.
// Call it at shutdown (Run does) and in tests.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	err := r.flush(ctx)
	r.flushes.Add(1)
	if err != nil {
		r.failures.Add(1)
	}
	r.pendingN.Store(int64(len(r.pending)))
	return err
}

func (r *Recorder) flush(ctx context.Context) error {
	if !r.ensured {
		if err := ensureSchema(ctx, r.db, r.d); err != nil {
			return err
		}
		r.ensured = true
	}
	r.mu.Lock()
	tracked := append([]*trackedFlag(nil), r.order...)
	r.mu.Unlock()
	if len(tracked) > 0 {
		releases, err := r.runningReleases(ctx)
		if err != nil {
			return err
		}
		nowMs := r.cfg.clock().UnixMilli()
		for _, f := range tracked {
			r.collect(f, releases[f.flag], nowMs)
		}
	}
	r.trimPending()
	if len(r.pending) > 0 {
		rows := r.pending
		err := dbtx.RetryBusy(ctx, r.d, func() error {
			return dbtx.InTx(ctx, r.db, func(tx *sql.Tx) error {
				return insertSamples(ctx, tx, r.d, r.instance, rows)
			})
		})
		if err != nil {
			return fmt.Errorf("release: recorder: write %d samples: %w", len(rows), err)
		}
		r.written.Add(uint64(len(rows)))
		r.pending = nil
	}
	r.prune(ctx)
	return nil
}

// runningReleases maps each flag of a running release to its release.
func (r *Recorder) runningReleases(ctx context.Context) (map[string]string, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT flag_key, release_id FROM "+tableReleaseFlags)
	if err != nil {
		return nil, fmt.Errorf("release: recorder: read the flags of running releases: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var flag, release string
		if err := rows.Scan(&flag, &release); err != nil {
			return nil, fmt.Errorf("release: recorder: read the flags of running releases: %w", err)
		}
		out[flag] = release
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("release: recorder: read the flags of running releases: %w", err)
	}
	return out, nil
}

// collect appends f's rows for the tick at nowMs to the pending ones, and
// moves f's starting point to this tick. release is f's release now, or
// empty.
func (r *Recorder) collect(f *trackedFlag, release string, nowMs int64) {
	st := f.src.Stats()
	if release == "" {
		f.release = ""
		return
	}
	if release != f.release {
		f.release, f.last, f.lastMs = release, st, nowMs
		return
	}
	end := max(nowMs, f.lastMs+1)
	canary, okNew := armDelta(st.New, f.last.New)
	baseline, okOld := armDelta(st.Old, f.last.Old)
	okRejected := st.Rejected >= f.last.Rejected
	if okNew && okRejected {
		canary.Rejected = st.Rejected - f.last.Rejected
	}
	if !okNew || !okOld || !okRejected {
		r.cfg.logger.Warn("release: recorder: counts went down; counting from here", "flag", f.flag, "release", release)
	} else {
		if canary != (Arm{}) {
			r.pending = append(r.pending, sample{release: release, flag: f.flag, arm: armCanary, startMs: f.lastMs, endMs: end, counts: canary})
		}
		if baseline != (Arm{}) {
			r.pending = append(r.pending, sample{release: release, flag: f.flag, arm: armBaseline, startMs: f.lastMs, endMs: end, counts: baseline})
		}
	}
	f.last, f.lastMs = st, end
}

// trimPending drops the oldest pending rows beyond MaxPendingSamples.
func (r *Recorder) trimPending() {
	n := len(r.pending) - MaxPendingSamples
	if n <= 0 {
		return
	}
	r.pending = append(r.pending[:0:0], r.pending[n:]...)
	r.dropped.Add(uint64(n))
	r.cfg.logger.Warn("release: recorder: samples dropped, the oldest first, after failed writes",
		"instance", r.instance, "dropped", n, "kept", len(r.pending))
}

// prune deletes this instance's samples past retention, at most every
// tenth of the retention (and at least every 10 minutes), so that each
// delete finds only what aged out since the previous one. A failure is
// logged and tried again at the next turn: old rows cost room, not
// correctness.
func (r *Recorder) prune(ctx context.Context) {
	now := r.cfg.clock()
	every := min(r.cfg.retention/10, 10*time.Minute)
	if since := now.Sub(r.lastPrune); !r.lastPrune.IsZero() && since >= 0 && since < every {
		return
	}
	r.lastPrune = now
	if n, err := pruneSamples(ctx, r.db, r.d, r.instance, now.Add(-r.cfg.retention)); err != nil {
		r.cfg.logger.Warn("release: recorder: old samples not deleted", "instance", r.instance, "error", err)
	} else if n > 0 {
		r.cfg.logger.Debug("release: recorder: old samples deleted", "instance", r.instance, "rows", n)
	}
}
