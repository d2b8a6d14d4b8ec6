package flagstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// wait bounds every wait for propagation: changes normally arrive within a
// poll interval.
const wait = 10 * time.Second

func seed(t *testing.T, s *flagstore.Store) {
	t.Helper()
	_, err := s.Import(context.Background(), []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
}

// Writers racing from the same base revision: exactly one wins, the others
// get ErrConflict, and the store moves by one revision.
func TestRacingWritersExactlyOneWins(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		seed(t, s)
		base, err := s.Revision(ctx)
		require.NoError(t, err)

		const writers = 8
		var wins, conflicts atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			w, err := flagstore.New(db.Open(t), db.Dialect)
			require.NoError(t, err)
			wg.Go(func() {
				<-start
				_, err := w.Apply(ctx, flagstore.Change{Actor: fmt.Sprint("writer-", i), Reason: "race", Base: new(base),
					Edits: []flagstore.Edit{flagstore.SetWeights("orders-summary-v2",
						flags.Weight{Variant: "on", Weight: i + 1}, flags.Weight{Variant: "off", Weight: 99 - i})}})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, flagstore.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("writer %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		assert.Equal(t, int64(1), wins.Load())
		assert.Equal(t, int64(writers-1), conflicts.Load())
		rev, err := s.Revision(ctx)
		require.NoError(t, err)
		assert.Equal(t, base+1, rev)
		hist, err := s.History(ctx, flagstore.Filter{})
		require.NoError(t, err)
		assert.Len(t, hist, 2)
	})
}

// events records a provider's events.
type events struct {
	ch      chan event
	pending []event // arrived while waiting for another type
}

type event struct {
	typ openfeature.EventType
	openfeature.EventDetails
}

func serveWithEvents(t *testing.T, s *flagstore.Store, opts ...flags.ProviderOption) (*flags.Provider, *openfeature.Client, *events, error) {
	t.Helper()
	p, err := flags.NewProvider(s, opts...)
	require.NoError(t, err)
	api := isolated.NewAPI()
	ev := &events{ch: make(chan event, 100)}
	for _, typ := range []openfeature.EventType{openfeature.ProviderReady, openfeature.ProviderConfigChange, openfeature.ProviderStale, openfeature.ProviderError} {
		cb := func(d openfeature.EventDetails) { ev.ch <- event{typ, d} }
		api.AddHandler(typ, &cb)
	}
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	setErr := api.SetProviderAndWait(ctx, p)
	return p, api.NewClient(), ev, setErr
}

// next returns the earliest event of type typ not yet returned. The SDK
// calls handlers on goroutines of its own, so that events of different
// types may arrive out of order: those of other types wait their turn.
func (e *events) next(t *testing.T, typ openfeature.EventType) openfeature.EventDetails {
	t.Helper()
	for i, d := range e.pending {
		if d.typ == typ {
			e.pending = append(e.pending[:i], e.pending[i+1:]...)
			return d.EventDetails
		}
	}
	timeout := time.After(wait)
	for {
		select {
		case d := <-e.ch:
			if d.typ == typ {
				return d.EventDetails
			}
			e.pending = append(e.pending, d)
		case <-timeout:
			t.Fatalf("no %s event within %v", typ, wait)
		}
	}
}

func boolFlag(t *testing.T, c *openfeature.Client, key string) openfeature.BooleanEvaluationDetails {
	t.Helper()
	d, err := c.BooleanValueDetails(context.Background(), key, false, openfeature.NewEvaluationContext("user-1", map[string]any{"email": "a@beta.example"}))
	require.NoError(t, err, key)
	return d
}

// Rows changed by hand: a flag row made invalid keeps its last good
// definition (the rest of the revision applies); shared rules made invalid
// refuse the revision whole and the last good set keeps serving; a write
// through the store mends either.
func TestHandEditedRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		writer := newStore(t, db)
		seed(t, writer)
		reader := newStore(t, &testdb.DB{DB: db.Open(t), Dialect: db.Dialect}, flagstore.WithPollInterval(20*time.Millisecond))
		p, client, ev, err := serveWithEvents(t, reader)
		require.NoError(t, err)
		ev.next(t, openfeature.ProviderReady)
		require.True(t, boolFlag(t, client, "beta-banner").Value, "the beta rule serves on")

		exec := func(q string, args ...any) {
			t.Helper()
			_, err := db.ExecContext(ctx, db.Dialect.Rebind(q), args...)
			require.NoError(t, err)
		}
		bump := func() { exec(`UPDATE rollsafe_flag_revision SET revision = revision + 1 WHERE id = 1`) }

		// A flag row made invalid, and another killed, in one hand-made revision.
		exec(`UPDATE rollsafe_flags SET definition = ? WHERE flag_key = ?`,
			`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"purple"}`, "beta-banner")
		exec(`UPDATE rollsafe_flags SET definition = ? WHERE flag_key = ?`,
			`{"state":"DISABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`, "orders-summary-v2")
		bump()
		changed := ev.next(t, openfeature.ProviderConfigChange)
		assert.Equal(t, "beta-banner", changed.EventMetadata["invalidFlags"])
		assert.Equal(t, "beta-banner", changed.EventMetadata["lastGoodFlags"])
		assert.Equal(t, int64(2), p.Revision())
		assert.True(t, boolFlag(t, client, "beta-banner").Value, "the last good definition serves")
		assert.Equal(t, openfeature.DisabledReason, boolFlag(t, client, "orders-summary-v2").Reason, "the rest of the revision applies")

		// A row that is not JSON at all.
		exec(`UPDATE rollsafe_flags SET definition = ? WHERE flag_key = ?`, `{"state": "ENAB`, "beta-banner")
		bump()
		require.Eventually(t, func() bool { return p.Revision() == 3 }, wait, 5*time.Millisecond)
		assert.True(t, boolFlag(t, client, "beta-banner").Value)

		// A write that touches another flag goes through; the broken row is
		// written back as it was.
		res, err := writer.Apply(ctx, change("revive", flagstore.SetState("orders-summary-v2", flags.Enabled)))
		require.NoError(t, err)
		assert.Equal(t, []string{"orders-summary-v2"}, res.Keys)
		require.Eventually(t, func() bool { return p.Revision() == res.Revision }, wait, 5*time.Millisecond, "the reader serves the revive")
		// A write to the broken flag must mend it.
		_, err = writer.Apply(ctx, change("x", flagstore.SetState("beta-banner", flags.Disabled)))
		require.ErrorIs(t, err, flags.ErrInvalid)

		// Shared rules made invalid: the revision is refused whole.
		ready := p.Revision()
		exec(`UPDATE rollsafe_flag_revision SET evaluators = ? WHERE id = 1`, `{"beta": `)
		bump()
		stale := ev.next(t, openfeature.ProviderStale)
		assert.Contains(t, stale.Message, "refused")
		assert.Equal(t, ready, p.Revision(), "the last good revision keeps serving")
		assert.True(t, boolFlag(t, client, "beta-banner").Value)
		_, err = writer.Apply(ctx, change("x", flagstore.SetState("orders-summary-v2", flags.Disabled)))
		var docErr *flags.DocumentError
		require.ErrorAs(t, err, &docErr, "no write lands on a refused document")

		// An import mends everything.
		res, err = writer.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ops", Reason: "restore"})
		require.NoError(t, err)
		ev.next(t, openfeature.ProviderReady)
		require.Eventually(t, func() bool { return p.Revision() == res.Revision }, wait, 5*time.Millisecond)
		cur, err := reader.Current(ctx)
		require.NoError(t, err)
		assert.Empty(t, cur.Problems())
	})
}

// A database outage: the last good flags keep serving (STALE), and on
// recovery the provider is READY again and reports every key changed
// meanwhile. A cache file lets an instance start during an outage.
func TestOutage(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			db := testdb.New(t, d)
			ctx := context.Background()
			writer := newStore(t, db)
			seed(t, writer)
			px, through := viaProxy(t, db)
			pool, err := sql.Open(db.Driver, through)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pool.Close() })
			cache := filepath.Join(t.TempDir(), "flags.cache.json")
			reader, err := flagstore.New(pool, d, flagstore.WithPollInterval(20*time.Millisecond), flagstore.WithCacheFile(cache))
			require.NoError(t, err)
			p, client, ev, err := serveWithEvents(t, reader)
			require.NoError(t, err)
			ev.next(t, openfeature.ProviderReady)
			require.Eventually(t, func() bool { _, err := os.Stat(cache); return err == nil }, wait, 5*time.Millisecond, "the cache file is written")

			px.cut()
			stale := ev.next(t, openfeature.ProviderStale)
			assert.Contains(t, stale.Message, "serving revision 1")
			assert.True(t, boolFlag(t, client, "beta-banner").Value, "the last good flags serve")
			_, err = writer.Apply(ctx, change("during the outage", flagstore.SetState("beta-banner", flags.Disabled)))
			require.NoError(t, err)
			res, err := writer.Apply(ctx, change("during the outage", flagstore.SetState("orders-summary-v2", flags.Disabled)))
			require.NoError(t, err)
			assert.Equal(t, int64(1), p.Revision())

			px.restore()
			ev.next(t, openfeature.ProviderReady)
			changed := ev.next(t, openfeature.ProviderConfigChange)
			assert.Equal(t, []string{"beta-banner", "orders-summary-v2"}, changed.FlagChanges)
			assert.Equal(t, res.Revision, p.Revision())
			assert.Equal(t, openfeature.DisabledReason, boolFlag(t, client, "beta-banner").Reason)
			require.Eventually(t, func() bool {
				data, err := os.ReadFile(cache)
				return err == nil && json.Valid(data) && revisionOf(t, data) == res.Revision
			}, wait, 5*time.Millisecond, "the cache file follows")

			// An instance starting while the database is down serves the cache.
			px.cut()
			cold, err := flagstore.New(pool, d, flagstore.WithPollInterval(20*time.Millisecond), flagstore.WithCacheFile(cache))
			require.NoError(t, err)
			p2, client2, ev2, err := serveWithEvents(t, cold)
			require.NoError(t, err, "the cache file stands in for the database")
			assert.Equal(t, res.Revision, p2.Revision())
			assert.Equal(t, openfeature.DisabledReason, boolFlag(t, client2, "beta-banner").Reason)
			ev2.next(t, openfeature.ProviderStale)

			// Without a cache file there is nothing to serve until it returns.
			bare, err := flagstore.New(pool, d, flagstore.WithPollInterval(20*time.Millisecond))
			require.NoError(t, err)
			p3, _, ev3, err := serveWithEvents(t, bare)
			require.Error(t, err)
			assert.Zero(t, p3.Revision())
			px.restore()
			ev3.next(t, openfeature.ProviderReady)
			assert.Equal(t, res.Revision, p3.Revision())
			ev2.next(t, openfeature.ProviderReady)
		})
	}
}

func revisionOf(t *testing.T, cacheData []byte) int64 {
	var c struct {
		Revision int64 `json:"revision"`
	}
	require.NoError(t, json.Unmarshal(cacheData, &c))
	return c.Revision
}

// 1,000 writes in a row while 50 readers watch: every reader ends at the
// last revision, and none ever serves a revision below one it served.
func TestManyWritesManyReaders(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		writer := newStore(t, db)
		seed(t, writer)
		const readers, writes = 50, 1000
		type reader struct {
			p    *flags.Provider
			mu   sync.Mutex
			seen []int64
		}
		rs := make([]*reader, readers)
		for i := range rs {
			r := &reader{}
			pool := db.Open(t)
			pool.SetMaxOpenConns(1) // 50 instances, 50 connections
			s, err := flagstore.New(pool, db.Dialect, flagstore.WithPollInterval(25*time.Millisecond))
			require.NoError(t, err)
			r.p, _ = serve(t, s, flags.WithRevisionListener(func(rev int64) {
				r.mu.Lock()
				r.seen = append(r.seen, rev)
				r.mu.Unlock()
			}))
			rs[i] = r
		}
		var last flagstore.Result
		for i := range writes {
			var err error
			last, err = writer.Apply(ctx, change(fmt.Sprint("write ", i), flagstore.SetWeights("orders-summary-v2",
				flags.Weight{Variant: "on", Weight: i % 100}, flags.Weight{Variant: "off", Weight: 100 - i%100})))
			require.NoError(t, err)
		}
		assert.Equal(t, int64(1+writes), last.Revision, "one revision per write, none skipped")
		for i, r := range rs {
			require.Eventually(t, func() bool { return r.p.Revision() == last.Revision }, wait, 5*time.Millisecond, "reader %d", i)
			r.mu.Lock()
			for j := 1; j < len(r.seen); j++ {
				require.Greater(t, r.seen[j], r.seen[j-1], "reader %d served %v", i, r.seen)
			}
			r.mu.Unlock()
		}
	})
}

// A writer killed (SIGKILL) in the middle of Apply: no part of its change
// is visible, and the revisions stay one per committed change, none
// skipped or repeated. On PostgreSQL and MySQL the child is held inside
// its transaction by a row lock, half its rows written, when it is killed;
// on every dialect it is also killed at random moments of a busy loop.
func TestWriterKilled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		_, err := s.Apply(ctx, generation(0))
		require.NoError(t, err)

		if db.Dialect != dialect.SQLite {
			// Hold the row of the flag in the middle of the child's change.
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, db.Dialect.Rebind(`SELECT flag_key FROM rollsafe_flags WHERE flag_key = ? FOR UPDATE`), fmt.Sprintf("f%03d", childFlags/2))
			require.NoError(t, err)
			child := startChild(t, db)
			require.Eventually(t, func() bool { return waitingOnLock(t, db, child) }, wait, 5*time.Millisecond,
				"the child blocks on the held row, half its change written: %s", child.stderr())
			require.NoError(t, child.Process.Signal(syscall.SIGKILL))
			_ = child.Wait()
			require.NoError(t, tx.Rollback())
			assertConsistent(t, s, db)
		}
		for range 4 {
			child := startChild(t, db)
			out := bufio.NewScanner(child.stdout)
			// The child prints a revision once it committed and starts the
			// next change at once: killed right after a line, it dies
			// inside that change. How many it committed first varies.
			for range 2 + rand.IntN(3) {
				require.True(t, out.Scan(), "child wrote nothing: %s", child.stderr())
			}
			require.NoError(t, child.Process.Signal(syscall.SIGKILL))
			_ = child.Wait()
			assertConsistent(t, s, db)
		}
	})
}

// waitingOnLock reports whether the child's transaction waits for a row
// lock.
func waitingOnLock(t *testing.T, db *testdb.DB, child *childProc) bool {
	t.Helper()
	var n int
	var err error
	if db.Dialect == dialect.Postgres {
		err = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, child.app).Scan(&n)
	} else {
		// The child's connection, inside its change, on the upsert of a
		// flag row (information_schema.innodb_trx does not show MariaDB's
		// lock waits reliably; the held row is the only thing that can
		// stop an upsert there).
		err = db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM information_schema.processlist
WHERE db = DATABASE() AND info LIKE 'INSERT INTO rollsafe_flags %' AND time_ms > 100`).Scan(&n)
	}
	require.NoError(t, err)
	return n > 0
}

type childProc struct {
	*exec.Cmd
	app    string // its application_name on PostgreSQL
	stdout interface{ Read([]byte) (int, error) }
	errBuf *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (c *childProc) stderr() string {
	c.errBuf.mu.Lock()
	defer c.errBuf.mu.Unlock()
	return string(c.errBuf.b)
}

func startChild(t *testing.T, db *testdb.DB) *childProc {
	t.Helper()
	dsn, app := db.DSN, ""
	if db.Dialect == dialect.Postgres {
		app = fmt.Sprintf("rollsafe-child-%d", rand.Uint64())
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildDialect+"="+db.Dialect.String(), envChildDSN+"="+dsn)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &childProc{Cmd: cmd, app: app, stdout: out, errBuf: &lockedBuffer{}}
	cmd.Stderr = c.errBuf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

// assertConsistent checks that the store holds exactly the changes that
// committed: revisions 1..N, one record each, and every flag row of the
// last one's generation.
func assertConsistent(t *testing.T, s *flagstore.Store, db *testdb.DB) {
	t.Helper()
	ctx := context.Background()
	rev, err := s.Revision(ctx)
	require.NoError(t, err)
	var n, lo, hi int64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(revision), MAX(revision) FROM rollsafe_flag_changes`).Scan(&n, &lo, &hi))
	assert.Equal(t, [3]int64{rev, 1, rev}, [3]int64{n, lo, hi}, "one record per revision, none skipped or repeated")

	hist, err := s.History(ctx, flagstore.Filter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, hist, 1)
	var gen int
	_, err = fmt.Sscanf(hist[0].Reason, "generation %d", &gen)
	require.NoError(t, err)
	rows, err := db.QueryContext(ctx, `SELECT definition, revision FROM rollsafe_flags`)
	require.NoError(t, err)
	defer rows.Close()
	count := 0
	for rows.Next() {
		var def string
		var r int64
		require.NoError(t, rows.Scan(&def, &r))
		var d struct {
			Metadata struct {
				Generation int `json:"generation"`
			} `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal([]byte(def), &d))
		assert.Equal(t, gen, d.Metadata.Generation, "every flag of the last committed change")
		assert.Equal(t, rev, r)
		count++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, childFlags, count)
}
