package release

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/dbtx"
)

// The arms of a sample row.
const (
	armCanary   = "canary"
	armBaseline = "baseline"
)

// sample is one row of tableSamples: one arm's counts of one flag on one
// instance over (start, end]. Its key is (release, flag, instance, arm,
// end): a row written twice is stored once.
type sample struct {
	release, flag, arm string
	startMs, endMs     int64
	counts             Arm
}

// sampleColumns are the columns of tableSamples in the order sampleArgs
// gives them.
var sampleColumns = append([]string{
	"release_id", "flag_key", "instance", "arm", "start_ms", "end_ms",
	"calls", "errors", "panics", "rejected", "timed", "latency_ns",
}, histogramColumns...)

// sampleBatch is how many rows one INSERT carries: 50 rows are 2,150 bind
// parameters, far below every dialect's limit.
const sampleBatch = 50

// insertSamples writes rows for instance with e, in batches; a row whose key
// is stored already is left as it is, so that writing the same rows again
// (a retry after a commit whose answer was lost) never counts them twice.
func insertSamples(ctx context.Context, e dbtx.Execer, d dialect.Dialect, instance string, rows []sample) error {
	for len(rows) > 0 {
		n := min(len(rows), sampleBatch)
		args := make([]any, 0, n*len(sampleColumns))
		for _, s := range rows[:n] {
			args = s.appendArgs(args, instance)
		}
		if _, err := e.ExecContext(ctx, insertSamplesQuery(d, n), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (s sample) appendArgs(args []any, instance string) []any {
	c := s.counts
	args = append(args, s.release, s.flag, instance, s.arm, s.startMs, s.endMs,
		int64(c.Calls), int64(c.Errors), int64(c.Panics), int64(c.Rejected), int64(c.Timed), int64(c.Latency))
	for _, b := range c.Histogram.Counts {
		args = append(args, int64(b))
	}
	return args
}

// insertSamplesQuery is the INSERT of n rows that skips rows whose key
// exists: ON CONFLICT DO NOTHING on SQLite and PostgreSQL; on MySQL an
// ON DUPLICATE KEY UPDATE that changes nothing, which, unlike INSERT IGNORE,
// turns no other error into a warning.
func insertSamplesQuery(d dialect.Dialect, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + tableSamples + " (" + strings.Join(sampleColumns, ", ") + ") VALUES ")
	row := "(" + strings.Repeat("?, ", len(sampleColumns)-1) + "?)"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	if d == dialect.MySQL {
		b.WriteString(" ON DUPLICATE KEY UPDATE calls = calls")
	} else {
		b.WriteString(" ON CONFLICT DO NOTHING")
	}
	return d.Rebind(b.String())
}

// querySamples sums the samples of flag in release releaseID whose interval
// ended after from and not after to, over every instance, in one query: a
// SUM per column and arm, and the number of distinct instances that wrote
// any of them. A window without samples is a Window with zero arms and no
// instances, not an error.
func querySamples(ctx context.Context, db *sql.DB, d dialect.Dialect, releaseID, flag string, from, to time.Time) (Window, error) {
	w := Window{Flag: flag, From: from, To: to}
	where := " FROM " + tableSamples + " WHERE release_id = ? AND flag_key = ? AND end_ms > ? AND end_ms <= ?"
	var q strings.Builder
	q.WriteString("SELECT arm, (SELECT COUNT(DISTINCT instance)" + where + ")")
	for _, c := range sampleColumns[6:] {
		q.WriteString(", SUM(" + c + ")")
	}
	q.WriteString(where + " GROUP BY arm")
	fromMs, toMs := from.UnixMilli(), to.UnixMilli()
	rows, err := db.QueryContext(ctx, d.Rebind(q.String()), releaseID, flag, fromMs, toMs, releaseID, flag, fromMs, toMs)
	if err != nil {
		return w, fmt.Errorf("release: samples of %s in %s: %w", flag, releaseID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var arm string
		var a Arm
		var latency int64
		dest := []any{&arm, &w.Instances, &a.Calls, &a.Errors, &a.Panics, &a.Rejected, &a.Timed, &latency}
		for i := range a.Histogram.Counts {
			dest = append(dest, &a.Histogram.Counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return w, fmt.Errorf("release: samples of %s in %s: %w", flag, releaseID, err)
		}
		a.Latency = time.Duration(latency)
		switch arm {
		case armCanary:
			w.Canary = a
		case armBaseline:
			w.Baseline = a
		}
	}
	if err := rows.Err(); err != nil {
		return w, fmt.Errorf("release: samples of %s in %s: %w", flag, releaseID, err)
	}
	return w, nil
}

// pruneSamples deletes instance's samples whose interval ended before
// before. The index on (instance, end_ms) makes it a range of that index,
// and run now and then it deletes only what aged out since the last time.
func pruneSamples(ctx context.Context, db *sql.DB, d dialect.Dialect, instance string, before time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, d.Rebind("DELETE FROM "+tableSamples+" WHERE instance = ? AND end_ms < ?"), instance, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("release: prune samples of %s: %w", instance, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("release: prune samples of %s: %w", instance, err)
	}
	return n, nil
}

// armDelta is what a path's counts grew by from then to now, and false when
// any count shrank: then the source is not the one the counts came from
// (it was replaced or reset), and no delta can be trusted.
func armDelta(now, then flags.PathStats) (Arm, bool) {
	if now.Calls < then.Calls || now.Errors < then.Errors || now.Panics < then.Panics ||
		now.Timed < then.Timed || now.Latency < then.Latency {
		return Arm{}, false
	}
	a := Arm{
		Calls:   now.Calls - then.Calls,
		Errors:  now.Errors - then.Errors,
		Panics:  now.Panics - then.Panics,
		Timed:   now.Timed - then.Timed,
		Latency: now.Latency - then.Latency,
	}
	for i, c := range now.Histogram.Counts {
		if c < then.Histogram.Counts[i] {
			return Arm{}, false
		}
		a.Histogram.Counts[i] = c - then.Histogram.Counts[i]
	}
	return a, true
}
