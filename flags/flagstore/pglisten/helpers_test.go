package pglisten_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/flagstore/pglisten"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// wait bounds every wait for propagation: generous, since the machine is
// shared, and never what a test asserts.
const wait = 10 * time.Second

const seed = `{
  "flags": {
    "checkout-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "search-v2":   {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
  }
}`

func change(reason string, edits ...flagstore.Edit) flagstore.Change {
	return flagstore.Change{Actor: "alice", Reason: reason, Edits: edits}
}

// withAppName returns the PostgreSQL DSN base with application_name set,
// so that a test finds its own connections among those of the tests
// running beside it.
func withAppName(t *testing.T, base, name string) string {
	t.Helper()
	if strings.Contains(base, "://") {
		u, err := url.Parse(base)
		require.NoError(t, err)
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " application_name=" + name
}

// terminate ends, and waits for the end of, every backend whose
// application_name starts with prefix, all at once; it returns how many
// it ended by application_name.
func terminate(t *testing.T, db *testdb.DB, prefix string) map[string]int {
	t.Helper()
	admin, err := sql.Open("pgx", withAppName(t, db.DSN, "rollsafe-test-admin"))
	require.NoError(t, err)
	defer admin.Close()
	rows, err := admin.QueryContext(context.Background(), `
		SELECT application_name, count(*) FROM pg_stat_activity
		WHERE starts_with(application_name, $1) AND pg_terminate_backend(pid, 5000)
		GROUP BY application_name`, prefix)
	require.NoError(t, err)
	defer rows.Close()
	ended := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		require.NoError(t, rows.Scan(&name, &n))
		ended[name] = n
	}
	require.NoError(t, rows.Err())
	return ended
}

// wakes records the wake calls of a Listener, and passes them on.
type wakes struct {
	l *pglisten.Listener

	mu   sync.Mutex
	seen []int64
	more chan struct{} // closed and replaced at each call
}

func newWakes(l *pglisten.Listener) *wakes { return &wakes{l: l, more: make(chan struct{})} }

func (w *wakes) Listen(ctx context.Context, wake func(int64)) error {
	return w.l.Listen(ctx, func(rev int64) {
		wake(rev)
		w.mu.Lock()
		w.seen = append(w.seen, rev)
		close(w.more)
		w.more = make(chan struct{})
		w.mu.Unlock()
	})
}

// after returns the wakes from the i-th on, and a channel closed at the
// next one.
func (w *wakes) after(i int) ([]int64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen[min(i, len(w.seen)):]), w.more
}

func (w *wakes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// waitFor waits until a wake from the i-th on is rev, and returns the
// number of wakes up to and including it.
func (w *wakes) waitFor(t *testing.T, i int, rev int64) int {
	t.Helper()
	deadline := time.After(wait)
	for {
		seen, more := w.after(i)
		if j := slices.Index(seen, rev); j >= 0 {
			return i + j + 1
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no wake(%d) after wake #%d within %v; saw %v", rev, i, wait, seen)
		}
	}
}

// gate holds a Listener's attempts to connect while it is shut.
type gate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

func (g *gate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// syncBuffer is a log that the test reads while the Listener writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type event struct {
	typ openfeature.EventType
	openfeature.EventDetails
}

// instance is one service instance of a test's fleet: its own pool, its
// own Listener, a Store and a Provider registered with an OpenFeature API.
type instance struct {
	name     string // the prefix of its connections' application_name
	pool     *sql.DB
	wakes    *wakes
	gate     *gate
	provider *flags.Provider
	client   *openfeature.Client
	events   chan event
	pending  []event
	log      *syncBuffer
}

// startInstance starts an instance whose connections are named
// db.Name-name-pool and db.Name-name-listen; poll is the store's poll
// interval (0: the default beside a notifier).
func startInstance(t *testing.T, db *testdb.DB, name string, poll time.Duration) *instance {
	t.Helper()
	in := &instance{name: db.Name + "-" + name, gate: newGate(), events: make(chan event, 100), log: &syncBuffer{}}
	var err error
	in.pool, err = sql.Open("pgx", withAppName(t, db.DSN, in.name+"-pool"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = in.pool.Close() })

	conn, err := pgx.ParseConfig(withAppName(t, db.DSN, in.name+"-listen"))
	require.NoError(t, err)
	conn.DialFunc = in.gate.dial
	logger := slog.New(slog.NewTextHandler(in.log, nil))
	l, err := pglisten.NewFromConfig(conn, pglisten.WithReconnectDelay(20*time.Millisecond), pglisten.WithLogger(logger))
	require.NoError(t, err)
	in.wakes = newWakes(l)

	opts := []flagstore.Option{flagstore.WithNotifier(in.wakes), flagstore.WithLogger(logger)}
	if poll > 0 {
		opts = append(opts, flagstore.WithPollInterval(poll))
	}
	store, err := flagstore.New(in.pool, dialect.Postgres, opts...)
	require.NoError(t, err)
	in.provider, err = flags.NewProvider(store)
	require.NoError(t, err)

	api := isolated.NewAPI()
	for _, typ := range []openfeature.EventType{openfeature.ProviderReady, openfeature.ProviderConfigChange, openfeature.ProviderStale, openfeature.ProviderError} {
		cb := func(d openfeature.EventDetails) { in.events <- event{typ, d} }
		api.AddHandler(typ, &cb)
	}
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), in.provider))
	in.client = api.NewClient()
	return in
}

// next waits for the next event of type typ. The SDK runs each handler on
// a goroutine of its own, so events of different types may arrive out of
// order: those of other types wait for their own call.
func (in *instance) next(t *testing.T, typ openfeature.EventType) event {
	t.Helper()
	for i, ev := range in.pending {
		if ev.typ == typ {
			in.pending = slices.Delete(in.pending, i, i+1)
			return ev
		}
	}
	deadline := time.After(wait)
	for {
		select {
		case ev := <-in.events:
			if ev.typ == typ {
				return ev
			}
			in.pending = append(in.pending, ev)
		case <-deadline:
			t.Fatalf("%s: no %s event within %v; log:\n%s", in.name, typ, wait, in.log)
		}
	}
}

// serves waits until the instance serves rev.
func (in *instance) serves(t *testing.T, rev int64) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return in.provider.Revision() == rev }, wait, 5*time.Millisecond) {
		t.Fatalf("%s serves revision %d, not %d; log:\n%s", in.name, in.provider.Revision(), rev, in.log)
	}
}

// on evaluates a flag as a guarded path would.
func (in *instance) on(t *testing.T, key string) bool {
	t.Helper()
	// A killed flag answers the caller's default: the old path.
	v, err := in.client.BooleanValue(context.Background(), key, false, openfeature.NewEvaluationContext("user-1", nil))
	require.NoError(t, err)
	return v
}
