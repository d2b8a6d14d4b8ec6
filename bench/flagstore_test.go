package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// storeChange is the actor and reason of the benchmarks' writes.
func storeChange(reason string) flagstore.Change {
	return flagstore.Change{Actor: "bench", Reason: reason}
}

// initProvider starts p and stops it when the benchmark ends.
func initProvider(b *testing.B, p *flags.Provider) {
	b.Helper()
	if err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Shutdown)
}

// BenchmarkStoreEval: the same definitions (flagsDefs) evaluated by a
// Provider reading a flag file and by one reading a flag store on SQLite,
// side by side. Once Init has read them, both evaluate from memory: the
// store only changes how definitions arrive, so the two should cost the
// same. The store's watch polls its revision row meanwhile, as it does in
// a running instance.
func BenchmarkStoreEval(b *testing.B) {
	path := filepath.Join(b.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(flagsDefs), 0o644); err != nil {
		b.Fatal(err)
	}
	file, err := flags.NewFileSource(path)
	if err != nil {
		b.Fatal(err)
	}
	db := testdb.NewSQLite(b)
	store, err := flagstore.New(db.DB, dialect.SQLite)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Import(context.Background(), []byte(flagsDefs), storeChange("benchmark definitions")); err != nil {
		b.Fatal(err)
	}
	users := make([]openfeature.FlattenedContext, 1024)
	for i := range users {
		id := "user-" + strconv.Itoa(i)
		users[i] = openfeature.FlattenedContext{openfeature.TargetingKey: id, "email": id + "@example.com"}
	}
	// Both providers run through every sub-benchmark, so that each shares
	// the machine with the same background work (the file's watch, the
	// store's poll).
	providers := map[string]*flags.Provider{}
	for name, src := range map[string]flags.Source{"file": file, "store": store} {
		p, err := flags.NewProvider(src)
		if err != nil {
			b.Fatal(err)
		}
		initProvider(b, p)
		providers[name] = p
	}
	// A file has no revisions; the store is at its one import.
	if rf, rs := providers["file"].Revision(), providers["store"].Revision(); rf != 0 || rs != 1 {
		b.Fatalf("the providers serve revisions %d (file) and %d (store), want 0 and 1", rf, rs)
	}
	for _, name := range []string{"file", "store"} {
		p := providers[name]
		for _, key := range []string{"static", "ramp", "ramp-in-rule"} {
			b.Run(name+"/"+key, func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if d := p.BooleanEvaluation(ctx, key, false, users[i%len(users)]); d.Error() != nil {
						b.Fatal(d.Error())
					}
					i++
				}
			})
		}
	}
	// The two take turns in blocks, so that a change of load on a shared
	// machine weighs on both alike: the figure to read is store/file, the
	// ratio of their times (this sub-benchmark's ns/op counts 2×256 calls).
	for _, key := range []string{"static", "ramp", "ramp-in-rule"} {
		b.Run("interleaved/"+key, func(b *testing.B) {
			ctx := context.Background()
			const block = 256
			var took [2]time.Duration
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for j, name := range []string{"file", "store"} {
					p := providers[name]
					start := time.Now()
					for k := range block {
						if d := p.BooleanEvaluation(ctx, key, false, users[(i+k)%len(users)]); d.Error() != nil {
							b.Fatal(d.Error())
						}
					}
					took[j] += time.Since(start)
				}
				i += block
			}
			calls := float64(b.N * block)
			b.ReportMetric(float64(took[0].Nanoseconds())/calls, "file-ns/op")
			b.ReportMetric(float64(took[1].Nanoseconds())/calls, "store-ns/op")
			b.ReportMetric(float64(took[1])/float64(took[0]), "store/file")
		})
	}
}

// BenchmarkApply: the cost of one Store.Apply that switches n flags at once
// (each edit a state change, as a kill or a release's rollback makes), in
// a store holding n flags, on each database. PostgreSQL and MySQL run when
// ROLLSAFE_TEST_POSTGRES / ROLLSAFE_TEST_MYSQL name a server (see package
// internal/testdb); they are skipped otherwise.
func BenchmarkApply(b *testing.B) {
	for _, d := range dialect.All() {
		b.Run(d.String(), func(b *testing.B) {
			for _, n := range []int{1, 10, 100} {
				b.Run(fmt.Sprintf("flags=%d", n), func(b *testing.B) {
					benchmarkApply(b, testdb.New(b, d), n)
				})
			}
		})
	}
}

func benchmarkApply(b *testing.B, db *testdb.DB, n int) {
	ctx := context.Background()
	store, err := flagstore.New(db.DB, db.Dialect)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	defs := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("flag-%03d", i)
		defs[i] = fmt.Sprintf(`%q: {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}`, keys[i])
	}
	if _, err := store.Import(ctx, []byte(`{"flags": {`+strings.Join(defs, ",")+`}}`), storeChange("benchmark flags")); err != nil {
		b.Fatal(err)
	}
	// Each change flips every flag, so that every Apply writes n rows.
	changes := [2]flagstore.Change{storeChange("off"), storeChange("on")}
	for _, k := range keys {
		changes[0].Edits = append(changes[0].Edits, flagstore.SetState(k, flags.Disabled))
		changes[1].Edits = append(changes[1].Edits, flagstore.SetState(k, flags.Enabled))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		res, err := store.Apply(ctx, changes[i%2])
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Keys) != n {
			b.Fatalf("apply changed %d flags, want %d", len(res.Keys), n)
		}
		i++
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "flags/s")
}
