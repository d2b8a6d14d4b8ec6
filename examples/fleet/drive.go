package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/release"
)

// watch is what the run follows while the load goes on.
type watch struct {
	start     time.Time
	status    release.Status
	lastEvent int64
	events    []release.Event
	open      map[string]bool // instance name + flag: its breaker is not closed
	trips     []trip
	killed    *time.Duration
	killedWho string
	unclean   []string          // instances that did not stop cleanly at the end
	names     map[string]string // registry id → the run's name, as of the last look
	ended     time.Time         // the release became terminal; zero while it runs
	printed   int               // results already counted in a progress line
}

// drive runs the load and the release until the release is over and
// --settle has passed, or --duration, or ctx ends; it returns what the run
// saw. The instances still run when it returns.
func (r *runner) drive(ctx context.Context) (*report, error) {
	// The orders' ids are the callers': after the highest stored, so
	// that runs on one database never collide (the column is a 32-bit
	// INTEGER on PostgreSQL and MySQL).
	var lastID int64
	if err := r.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM orders").Scan(&lastID); err != nil {
		return nil, fmt.Errorf("the highest order id: %w", err)
	}
	start := time.Now()
	ld := newLoad(r.fleet, r.cfg.rps, start, lastID)
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		ld.run(loadCtx)
	}()
	stop := func() { stopLoad(); <-loadDone }
	defer stop()

	st, err := r.ctl.Start(ctx, r.plan, actor)
	if err != nil {
		return nil, fmt.Errorf("start the release: %w", err)
	}
	fmt.Fprintf(r.out, "release %s started: %d steps, flags %s; load %d req/s\n",
		st.ID, st.Steps, strings.Join(flagKeys(r.plan), ", "), r.cfg.rps)
	w := &watch{start: start, status: st, open: map[string]bool{}}

	deadline := time.NewTimer(r.cfg.duration)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	lastLine := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(r.out, "interrupted: stopping")
			break loop
		case <-deadline.C:
			break loop
		case <-tick.C:
		}
		r.follow(ctx, w)
		r.chaos(ctx, w, ld)
		if time.Since(lastLine) >= time.Second {
			lastLine = time.Now()
			r.progress(w, ld)
		}
		if !w.ended.IsZero() && time.Since(w.ended) >= r.cfg.settle {
			break loop
		}
	}
	stop()
	end := time.Since(start)
	// The last look, even after an interrupt; then every instance stops
	// (an instance that does not stop cleanly is counted as crashed), and
	// only then are the writes read back.
	final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.follow(final, w)
	for _, in := range r.fleet {
		if err := in.stop(stopGrace); err != nil {
			fmt.Fprintln(r.errOut, "fleet:", err)
			w.unclean = append(w.unclean, in.name)
		}
	}
	return r.report(final, w, ld.snapshot(), end)
}

// follow reads the release's status and new events, and each instance's
// breakers; what changed is printed.
func (r *runner) follow(ctx context.Context, w *watch) {
	if st, err := r.ctl.Status(ctx, w.status.ID); err == nil {
		w.status = st
	} else {
		fmt.Fprintln(r.errOut, "fleet: release status:", err)
	}
	evs, err := r.ctl.History(ctx, w.status.ID, release.HistoryFilter{Attempt: w.status.Attempt, After: w.lastEvent})
	if err != nil {
		fmt.Fprintln(r.errOut, "fleet: release history:", err)
	}
	w.names = r.instanceNames(ctx)
	for _, ev := range evs {
		w.lastEvent = ev.ID
		w.events = append(w.events, ev)
		if line := describe(ev, w.names); line != "" {
			fmt.Fprintf(r.out, "%s  release: %s\n", stamp(ev.At.Sub(w.start)), line)
		}
	}
	if w.status.State.Terminal() && w.ended.IsZero() {
		w.ended = time.Now()
	}
	for _, in := range r.fleet {
		if !in.alive() {
			continue
		}
		open, err := r.breakerOpen(ctx, in)
		if err != nil {
			continue // an instance busy or going: the next look sees it
		}
		for _, f := range r.plan.Flags {
			key := in.name + " " + f.Key
			now := slices.Contains(open, f.Key)
			switch {
			case now && !w.open[key]:
				at := time.Since(w.start)
				w.trips = append(w.trips, trip{At: at, Instance: in.name, Flag: f.Key})
				fmt.Fprintf(r.out, "%s  %s: the breaker of %s opened: its calls go to the old path\n", stamp(at), in.name, f.Key)
			case !now && w.open[key]:
				fmt.Fprintf(r.out, "%s  %s: the breaker of %s closed again\n", stamp(time.Since(w.start)), in.name, f.Key)
			}
			w.open[key] = now
		}
	}
}

// instanceNames maps the registry's instance ids to the run's names.
func (r *runner) instanceNames(ctx context.Context) map[string]string {
	names := map[string]string{}
	list, err := r.registry.List(ctx)
	if err != nil {
		return names
	}
	for _, e := range list {
		for _, in := range r.fleet {
			if e.Address == in.base {
				names[e.ID] = in.name
			}
		}
	}
	return names
}

// chaos kills the instance that drives the release (--chaos kill-driver),
// once: at the first failed call of the new path, or when the release
// reaches step chaosStep.
func (r *runner) chaos(ctx context.Context, w *watch, ld *load) {
	if r.cfg.chaos == "" || w.killed != nil || w.status.State.Terminal() {
		return
	}
	if !ld.failedNew.Load() && w.status.Step < chaosStep {
		return
	}
	driver, err := r.ctl.Driver(ctx)
	if err != nil || driver == "" {
		return // no holder this moment: the next look
	}
	name := w.names[driver]
	for _, in := range r.fleet {
		if in.name != name || !in.alive() {
			continue
		}
		at := time.Since(w.start)
		if err := in.kill(); err != nil {
			fmt.Fprintln(r.errOut, "fleet:", err)
			return
		}
		w.killed, w.killedWho = &at, in.name
		fmt.Fprintf(r.out, "%s  chaos: SIGKILL %s, which drives the release\n", stamp(at), in.name)
	}
}

// progress prints what the load saw since the last line.
func (r *runner) progress(w *watch, ld *load) {
	res, n := ld.since(w.printed)
	w.printed = n
	var arms [2]rate // new, old
	for _, x := range res {
		switch x.path {
		case "new":
			arms[0].Calls++
			if !x.ok() {
				arms[0].Failed++
			}
		case "old":
			arms[1].Calls++
			if !x.ok() {
				arms[1].Failed++
			}
		}
	}
	st := w.status
	step := "before the first step"
	if st.Step >= 0 {
		step = fmt.Sprintf("step %d/%d", st.Step+1, st.Steps)
	}
	var weights []string
	for _, k := range slices.Sorted(maps.Keys(st.Weights)) {
		weights = append(weights, fmt.Sprintf("%s %d%%", k, st.Weights[k]))
	}
	fmt.Fprintf(r.out, "%s  %-11s %-14s %s | new %4d calls %s | old %4d calls %s\n",
		stamp(time.Since(w.start)), st.State, step, strings.Join(weights, ", "),
		arms[0].Calls, failure(arms[0]), arms[1].Calls, failure(arms[1]))
}

func failure(a rate) string {
	if a.Calls == 0 {
		return "   -  failed"
	}
	return fmt.Sprintf("%5.1f%% failed", 100*float64(a.Failed)/float64(a.Calls))
}

// describe is the progress line of a release event; "" for those not
// worth one (measurements: the arms' line shows them).
func describe(ev release.Event, names map[string]string) string {
	who := ev.Actor
	if n, ok := names[who]; ok {
		who = n
	}
	switch ev.Kind {
	case release.EventStep:
		return fmt.Sprintf("step %d: canary %s (%s)", ev.Step+1, weightsText(ev.WeightsAfter), ev.Reason)
	case release.EventDriver:
		return fmt.Sprintf("%s drives the release", who)
	case release.EventHold, release.EventPaused, release.EventWebhook:
		return fmt.Sprintf("%s: %s", ev.Kind, ev.Reason)
	case release.EventRollback:
		return fmt.Sprintf("ROLLBACK decided by %s: %s", who, ev.Reason)
	case release.EventRolledBack:
		return fmt.Sprintf("rolled back: every flag at its baseline (flag store revision %d)", ev.Revision)
	case release.EventPromoted:
		return "promoted: the new code serves everyone"
	}
	return ""
}

func weightsText(w map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s %d%%", k, w[k]))
	}
	return strings.Join(parts, ", ")
}

func flagKeys(p *release.Plan) []string {
	var keys []string
	for _, f := range p.Flags {
		keys = append(keys, f.Key)
	}
	return keys
}

// stamp is a time of the run, for the start of a line.
func stamp(d time.Duration) string { return fmt.Sprintf("%6.1fs", d.Seconds()) }
