package bench

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/flagstore/pglisten"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// propagationReaders is the fleet: 50 instances, each with its own pool,
// store and provider, as 50 processes would have.
const propagationReaders = 50

const propagationFlags = `{"flags": {
  "orders-summary-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
}}`

// BenchmarkPropagation: how long a change takes from the writer to every
// one of 50 readers, each serving it (its provider's revision is the
// change's). One change per iteration; p50-ms and p99-ms over the run's
// changes (run with -benchtime 200x or more for a p99 worth reading).
// PostgreSQL readers are told by pglisten (goal: p99 < 100 ms); MySQL and
// SQLite readers poll every 250 ms, jittered (goal: p99 <= poll + 50 ms).
// A dialect whose ROLLSAFE_TEST_* variable is unset is skipped.
//
// The time runs from just before the writer's Apply to the moment the last
// reader starts serving the change: it includes the write itself, so it
// is an upper bound on commit-to-served.
func BenchmarkPropagation(b *testing.B) {
	b.Run("postgres-listen", func(b *testing.B) { benchPropagation(b, dialect.Postgres, true) })
	b.Run("mysql-poll", func(b *testing.B) { benchPropagation(b, dialect.MySQL, false) })
	b.Run("sqlite-poll", func(b *testing.B) { benchPropagation(b, dialect.SQLite, false) })
}

// fleetReader is one instance: the revision its provider serves and when
// it started serving it.
type fleetReader struct {
	mu  sync.Mutex
	rev int64
	at  time.Time
}

func benchPropagation(b *testing.B, d dialect.Dialect, listen bool) {
	ctx := context.Background()
	db := testdb.New(b, d)
	served := make(chan struct{}, 1)
	readers := make([]*fleetReader, propagationReaders)
	var writer *flagstore.Store
	for i := range readers {
		pool := db.Open(b)
		// One connection per instance: on PostgreSQL (max_connections 100
		// here) 50 pools and 50 listening connections fill the server, so
		// the writer shares reader 0's pool, as an admin handler on one of
		// the instances would.
		pool.SetMaxOpenConns(1)
		if i == 0 {
			var err error
			if writer, err = flagstore.New(pool, d); err != nil {
				b.Fatal(err)
			}
			if _, err := writer.Import(ctx, []byte(propagationFlags), flagstore.Change{Actor: "bench", Reason: "seed"}); err != nil {
				b.Fatal(err)
			}
		}
		var opts []flagstore.Option
		if listen {
			l, err := pglisten.New(db.DSN)
			if err != nil {
				b.Fatal(err)
			}
			opts = append(opts, flagstore.WithNotifier(l))
		}
		store, err := flagstore.New(pool, d, opts...)
		if err != nil {
			b.Fatal(err)
		}
		r := &fleetReader{}
		readers[i] = r
		p, err := flags.NewProvider(store, flags.WithRevisionListener(func(rev int64) {
			r.mu.Lock()
			r.rev, r.at = rev, time.Now()
			r.mu.Unlock()
			select {
			case served <- struct{}{}:
			default:
			}
		}))
		if err != nil {
			b.Fatal(err)
		}
		api := isolated.NewAPI()
		b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
		if err := api.SetProviderAndWait(ctx, p); err != nil {
			b.Fatal(err)
		}
	}

	// allServe waits until every reader serves rev, and returns when the
	// last one started to.
	allServe := func(rev int64) time.Time {
		deadline := time.After(30 * time.Second)
		for {
			var last time.Time
			behind := 0
			for _, r := range readers {
				r.mu.Lock()
				if r.rev < rev {
					behind++
				} else if r.at.After(last) {
					last = r.at
				}
				r.mu.Unlock()
			}
			if behind == 0 {
				return last
			}
			select {
			case <-served:
			case <-deadline:
				b.Fatalf("%d of %d readers do not serve revision %d after 30s", behind, len(readers), rev)
			}
		}
	}
	allServe(1)

	var took []time.Duration
	state := flags.Disabled
	for b.Loop() {
		start := time.Now()
		res, err := writer.Apply(ctx, flagstore.Change{Actor: "bench", Reason: "propagation",
			Edits: []flagstore.Edit{flagstore.SetState("orders-summary-v2", state)}})
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, allServe(res.Revision).Sub(start))
		if state == flags.Disabled {
			state = flags.Enabled
		} else {
			state = flags.Disabled
		}
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(q float64) float64 {
		return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(float64(len(took)), "changes")
	b.Logf("%s: %d changes, %d readers: p50 %.1f ms, p99 %.1f ms, max %.1f ms", d, len(took), len(readers), ms(0.5), ms(0.99), ms(1))
}
