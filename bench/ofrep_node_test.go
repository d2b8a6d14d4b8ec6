package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/flagstore/pglisten"
	"github.com/rollsafe/rollsafe/flags/ofrep"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// BenchmarkOFREPChangeToJS: from a write to the flag store to the
// CONFIGURATION_CHANGED event of OpenFeature's JavaScript web provider
// (@openfeature/ofrep-web-provider, SSE change detection), which reads the
// flags from rollsafe's OFREP handler on 127.0.0.1: the store tells the
// provider behind the handler (pglisten on PostgreSQL; polling every
// 250 ms on SQLite), the handler's event stream sends refetchEvaluation,
// the web provider refetches the bulk evaluation and reports the change.
// One change per iteration; p50-ms and p99-ms over the run (-benchtime
// 200x). Goal on PostgreSQL: p99 < 250 ms. Needs Node and
// ROLLSAFE_TEST_OFREP_JS (the folder where npm ci installed
// flags/ofrep/testdata/js); skipped without them.
func BenchmarkOFREPChangeToJS(b *testing.B) {
	b.Run("postgres-listen", func(b *testing.B) { benchChangeToJS(b, dialect.Postgres) })
	b.Run("sqlite-poll", func(b *testing.B) { benchChangeToJS(b, dialect.SQLite) })
}

func benchChangeToJS(b *testing.B, d dialect.Dialect) {
	dir := os.Getenv("ROLLSAFE_TEST_OFREP_JS")
	if dir == "" {
		b.Skip("ROLLSAFE_TEST_OFREP_JS is not set")
	}
	ctx := context.Background()
	db := testdb.New(b, d)
	var opts []flagstore.Option
	if d == dialect.Postgres {
		l, err := pglisten.New(db.DSN)
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, flagstore.WithNotifier(l))
	}
	store, err := flagstore.New(db.DB, d, opts...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Import(ctx, []byte(propagationFlags), flagstore.Change{Actor: "bench", Reason: "seed"}); err != nil {
		b.Fatal(err)
	}
	p, err := flags.NewProvider(store)
	if err != nil {
		b.Fatal(err)
	}
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(ctx, p); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	h, err := ofrep.NewHandler(p, ofrep.WithEvents(api.NewClient()))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})

	cmd := exec.Command("node", filepath.Join(dir, "watch.mjs"), srv.URL, `{"targetingKey":"u1"}`)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	events := make(chan jsEvent, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev jsEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
	}()
	if ev := nextJSEvent(b, events); ev.Event != "ready" {
		b.Fatalf("watch.mjs: %+v", ev)
	}

	lat := make([]time.Duration, 0, b.N)
	state := flags.Disabled
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := store.Apply(ctx, flagstore.Change{Actor: "bench", Reason: "toggle",
			Edits: []flagstore.Edit{flagstore.SetState("orders-summary-v2", state)}}); err != nil {
			b.Fatal(err)
		}
		for {
			ev := nextJSEvent(b, events)
			if ev.Event == "changed" && slices.Contains(ev.Flags, "orders-summary-v2") {
				lat = append(lat, time.UnixMilli(ev.At).Sub(start))
				break
			}
		}
		if state == flags.Disabled {
			state = flags.Enabled
		} else {
			state = flags.Disabled
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.Logf("%s: %d changes: p50 %v, p99 %v, max %v", d, len(lat), q(0.50), q(0.99), lat[len(lat)-1])
}

type jsEvent struct {
	Event string   `json:"event"`
	At    int64    `json:"at"`
	Flags []string `json:"flags"`
}

func nextJSEvent(b *testing.B, events <-chan jsEvent) jsEvent {
	select {
	case ev, ok := <-events:
		if !ok {
			b.Fatal("watch.mjs ended")
		}
		return ev
	case <-time.After(20 * time.Second):
		b.Fatal("no event from watch.mjs within 20s")
	}
	return jsEvent{}
}
