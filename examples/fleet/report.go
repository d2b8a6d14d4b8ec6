package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollsafe/rollsafe/release"
)

// summary is the JSON object of --json: the names are a contract.
type summary struct {
	Fault        string `json:"fault"`
	Instances    int    `json:"instances"`
	Requests     int    `json:"requests"`
	Failed       int    `json:"failed"`
	FailedNew    int    `json:"failedNew"`
	ServedNew    int    `json:"servedNew"`
	ServedOld    int    `json:"servedOld"`
	Verdict      string `json:"verdict"` // promoted, rolled_back or running
	FaultFirstMs *int64 `json:"faultFirstMs"`
	RollbackMs   *int64 `json:"rollbackMs"`
	FleetOldMs   *int64 `json:"fleetOldMs"`
	WritesAcked  int    `json:"writesAcked"`
	WritesLost   int    `json:"writesLost"`
}

// Verdicts of a run.
const (
	verdictPromoted   = "promoted"
	verdictRolledBack = "rolled_back"
	verdictRunning    = "running"
)

// report is what a run found.
type report struct {
	summary
	kind       faultKind
	outcome    string   // who decided the rollback and why
	crashed    []string // instances that exited by themselves, or did not stop cleanly
	failedOld  int      // failed requests that the old path answered: it never fails
	unanswered int      // requests without an answer, those to the killed instance left out
	trips      []trip
	killedWho  string
	timeline   timeline
}

// report works the figures out from the results and the database.
func (r *runner) report(ctx context.Context, w *watch, results []result, end time.Duration) (*report, error) {
	kind := r.cfg.kind
	rep := &report{kind: kind, summary: summary{Fault: r.cfg.fault, Instances: len(r.fleet), Requests: len(results), Verdict: verdictRunning},
		outcome: w.status.Outcome, trips: w.trips, killedWho: w.killedWho}
	switch w.status.State {
	case release.StatePromoted:
		rep.Verdict = verdictPromoted
	case release.StateRolledBack:
		rep.Verdict = verdictRolledBack
	}
	gone := make([]bool, len(r.fleet)) // killed by --chaos, or crashed
	for i, in := range r.fleet {
		if in.crashed() || slices.Contains(w.unclean, in.name) {
			rep.crashed = append(rep.crashed, in.name)
		}
		gone[i] = in.crashed() || in.name == w.killedWho
	}

	var acked []int64
	for _, res := range results {
		switch res.path {
		case "new":
			rep.ServedNew++
		case "old":
			rep.ServedOld++
		}
		if !res.ok() {
			rep.Failed++
			switch {
			case res.path == "new":
				rep.FailedNew++
			case res.path == "old":
				rep.failedOld++
			case r.fleet[res.instance].name != w.killedWho:
				rep.unanswered++
			}
		}
		if res.write && res.ok() {
			acked = append(acked, res.orderID)
		}
		if kind != faultNone && res.path == "new" && (kind == faultLatency || !res.ok()) {
			rep.FaultFirstMs = earliest(rep.FaultFirstMs, res.at)
		}
	}
	rep.WritesAcked = len(acked)
	lost, err := r.missing(ctx, acked)
	if err != nil {
		return nil, fmt.Errorf("read the acknowledged writes back: %w", err)
	}
	rep.WritesLost = lost

	if rep.Verdict == verdictRolledBack {
		// The ledger's rolled-back event is written once the rollback's
		// store write has committed.
		for _, ev := range w.events {
			if ev.Kind == release.EventRolledBack {
				rep.RollbackMs = ms(ev.At.Sub(w.start))
			}
		}
		rep.FleetOldMs = fleetOld(results, gone)
	}
	rep.timeline = r.timeline(w, results, end, rep)
	return rep, nil
}

func earliest(cur *int64, at time.Duration) *int64 {
	if cur == nil || at.Milliseconds() < *cur {
		return ms(at)
	}
	return cur
}

func ms(d time.Duration) *int64 { v := d.Milliseconds(); return &v }

// fleetOld is the first moment from which every instance served only the
// old path: for each instance, the first old-path request sent after its
// last new-path one (an instance that never served the new path counts
// from 0; one that is gone, killed or crashed, from its last new-path
// one); the latest of those. nil when an instance still running never
// answered from the old path after its last new-path answer: the fleet was
// not seen on the old path.
func fleetOld(results []result, gone []bool) *int64 {
	instances := len(gone)
	lastNew := make([]time.Duration, instances)
	seenNew := make([]bool, instances)
	for _, res := range results {
		if res.path == "new" && (!seenNew[res.instance] || res.at > lastNew[res.instance]) {
			lastNew[res.instance], seenNew[res.instance] = res.at, true
		}
	}
	from := make([]time.Duration, instances)
	found := make([]bool, instances)
	for _, res := range results {
		i := res.instance
		if res.path == "old" && seenNew[i] && res.at > lastNew[i] && (!found[i] || res.at < from[i]) {
			from[i], found[i] = res.at, true
		}
	}
	var at time.Duration
	for i := range instances {
		switch {
		case found[i]:
			at = max(at, from[i])
		case seenNew[i] && gone[i]:
			at = max(at, lastNew[i])
		case seenNew[i]:
			return nil
		}
	}
	return ms(at)
}

// missing counts the ids of acked that are not in the orders table.
func (r *runner) missing(ctx context.Context, acked []int64) (int, error) {
	const chunk = 500
	lost := 0
	for len(acked) > 0 {
		n := min(chunk, len(acked))
		part := acked[:n]
		acked = acked[n:]
		marks := strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		var found int
		q := r.cfg.dialect.Rebind("SELECT COUNT(*) FROM orders WHERE id IN (" + marks + ")")
		if err := r.db.QueryRowContext(ctx, q, args...).Scan(&found); err != nil {
			return 0, err
		}
		lost += len(part) - found
	}
	return lost, nil
}

// timeline is what the chart draws.
func (r *runner) timeline(w *watch, results []result, end time.Duration, rep *report) timeline {
	tl := timeline{Fault: r.cfg.fault, End: end, Bucket: time.Second, Trips: w.trips, Killed: w.killed}
	n := int(end/tl.Bucket) + 1
	tl.New, tl.Old = make([]rate, n), make([]rate, n)
	for _, res := range results {
		i := min(int(res.at/tl.Bucket), n-1)
		arm := map[string][]rate{"new": tl.New, "old": tl.Old}[res.path]
		if arm == nil {
			continue
		}
		arm[i].Calls++
		if !res.ok() {
			arm[i].Failed++
		}
	}
	for _, ev := range w.events {
		at := ev.At.Sub(w.start)
		switch ev.Kind {
		case release.EventStep, release.EventRolledBack:
			for _, f := range flagKeys(r.plan) {
				if pct, ok := ev.WeightsAfter[f]; ok || ev.Kind == release.EventRolledBack {
					tl.Weights = append(tl.Weights, weightChange{At: at, Flag: f, Percent: pct})
				}
			}
		case release.EventPromoted:
			tl.Promoted = &at
		}
	}
	if rep.FaultFirstMs != nil {
		d := time.Duration(*rep.FaultFirstMs) * time.Millisecond
		tl.FaultFirst = &d
	}
	if rep.RollbackMs != nil {
		d := time.Duration(*rep.RollbackMs) * time.Millisecond
		tl.Rollback = &d
	}
	return tl
}

// behaved says whether the run went as its fault requires.
func (rep *report) behaved() (bool, string) {
	kind := rep.kind
	switch {
	case len(rep.crashed) > 0:
		return false, strings.Join(rep.crashed, ", ") + " crashed"
	case rep.WritesLost > 0:
		return false, fmt.Sprintf("%d acknowledged writes are not in the database", rep.WritesLost)
	case rep.failedOld > 0:
		return false, fmt.Sprintf("%d requests failed on the old path, which never fails", rep.failedOld)
	case rep.unanswered > 0:
		return false, fmt.Sprintf("%d requests got no answer from an instance that was not killed", rep.unanswered)
	case rep.Requests > 0 && rep.WritesAcked == 0:
		return false, "no write was acknowledged"
	case kind == faultNone && rep.FailedNew > 0:
		return false, fmt.Sprintf("a good release failed %d requests on the new path", rep.FailedNew)
	case kind == faultNone && rep.Verdict != verdictPromoted:
		return false, "a good release was not promoted (" + rep.Verdict + ")"
	case kind != faultNone && rep.Verdict != verdictRolledBack:
		return false, "a bad release was not rolled back (" + rep.Verdict + ")"
	}
	return true, ""
}

// finish prints the summary (and the chart, and the JSON), and returns the
// exit status.
func (r *runner) finish(rep *report) int {
	ok, why := rep.behaved()
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, args...)...)
	}
	fmt.Fprintln(r.out, "\nsummary")
	row("fault", "%s", rep.Fault)
	crashed := "none crashed"
	if len(rep.crashed) > 0 {
		crashed = "crashed: " + strings.Join(rep.crashed, ", ")
	}
	row("instances", "%d (%s)", rep.Instances, crashed)
	row("verdict", "%s", rep.Verdict)
	if rep.outcome != "" {
		row("decided", "%s", rep.outcome)
	}
	row("requests", "%d: %d failed (%d on the new path)", rep.Requests, rep.Failed, rep.FailedNew)
	row("served", "new path %d, old path %d", rep.ServedNew, rep.ServedOld)
	row("fault first showed", "%s", msText(rep.FaultFirstMs, nil))
	row("rollback committed", "%s", msText(rep.RollbackMs, rep.FaultFirstMs))
	row("fleet on the old path", "%s", msText(rep.FleetOldMs, rep.RollbackMs))
	row("writes", "%d acknowledged, %d lost", rep.WritesAcked, rep.WritesLost)
	var trips []string
	for _, t := range rep.trips {
		trips = append(trips, fmt.Sprintf("%s %s at %.1fs", t.Instance, t.Flag, t.At.Seconds()))
	}
	if len(trips) > 0 {
		row("breakers opened", "%s", strings.Join(trips, "; "))
	}
	if rep.killedWho != "" {
		row("chaos", "%s (the driver) SIGKILLed at %.1fs", rep.killedWho, rep.timeline.Killed.Seconds())
	}
	outcome := "as the fault requires"
	if !ok {
		outcome = "NOT as the fault requires: " + why
	}
	row("outcome", "%s", outcome)
	_ = tw.Flush()

	code := exitOK
	if !ok {
		code = exitFailed
	}
	if r.cfg.chart != "" {
		if err := drawChart(rep.timeline, r.cfg.chart); err != nil {
			fmt.Fprintln(r.errOut, "fleet: chart:", err)
			if code == exitOK {
				code = exitCantRun // a finding of the run stays its exit status
			}
		} else {
			fmt.Fprintf(r.out, "chart: %s\n", r.cfg.chart)
		}
	}
	if r.cfg.json {
		b, err := json.Marshal(rep.summary)
		if err != nil {
			fmt.Fprintln(r.errOut, "fleet:", err)
			return exitCantRun
		}
		fmt.Fprintf(r.out, "%s\n", b)
	}
	return code
}

// msText is a time of the run, and how long after since it came.
func msText(at, since *int64) string {
	if at == nil {
		return "-"
	}
	s := fmt.Sprintf("%.2fs", float64(*at)/1000)
	if since != nil {
		s += fmt.Sprintf(" (%+.2fs)", float64(*at-*since)/1000)
	}
	return s
}
