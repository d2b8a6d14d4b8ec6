package pglisten_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/flagstore/pglisten"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

func TestOptionsRefuseBadInput(t *testing.T) {
	const dsn = "postgres://postgres@127.0.0.1:5432/postgres"
	for name, tc := range map[string]struct {
		opt  pglisten.Option
		want string
	}{
		"zero delay":     {pglisten.WithReconnectDelay(0), "WithReconnectDelay: 0s is not positive"},
		"negative delay": {pglisten.WithReconnectDelay(-time.Second), "WithReconnectDelay: -1s is not positive"},
		"nil logger":     {pglisten.WithLogger(nil), "WithLogger: nil logger"},
		"empty channel":  {pglisten.WithChannel(""), "WithChannel: empty channel name"},
		"long channel":   {pglisten.WithChannel(strings.Repeat("c", 64)), "is longer than 63 bytes"},
		"NUL in channel": {pglisten.WithChannel("a\x00b"), "holds a NUL byte"},
		"nil option":     {nil, "pglisten: nil option"},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := pglisten.New(dsn, tc.opt)
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, l)
		})
	}
	_, err := pglisten.New(dsn, pglisten.WithChannel(strings.Repeat("c", 63)), pglisten.WithReconnectDelay(time.Nanosecond))
	require.NoError(t, err, "63 bytes and 1 ns are allowed")

	l, err := pglisten.NewFromConfig(nil)
	require.EqualError(t, err, "pglisten: NewFromConfig: nil connection config")
	assert.Nil(t, l)
}

func TestNewHidesThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://app:s3cr3t-pw@db.internal:5432/app?sslmode=sometimes",
		"host=db.internal user=app password=s3cr3t-pw sslmode=sometimes",
		"postgres://app@db.internal:99999/app?password=s3cr3t-pw",
	} {
		_, err := pglisten.New(dsn)
		require.Error(t, err, dsn)
		assert.NotContains(t, err.Error(), "s3cr3t", dsn)
		assert.Contains(t, err.Error(), "db.internal", "the error names the connection string")
	}
}

func TestListenRefusesANilWake(t *testing.T) {
	l, err := pglisten.New("postgres://postgres@127.0.0.1:5432/postgres")
	require.NoError(t, err)
	require.EqualError(t, l.Listen(context.Background(), nil), "pglisten: Listen: nil wake function")
}

func uniqueChannel(t *testing.T) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rs_test_chan_" + hex.EncodeToString(b[:])
}

// listening starts l.Listen on a goroutine; wait for its end with the
// returned function, which cancels it first.
func listening(t *testing.T, l *pglisten.Listener) (*wakes, func() error) {
	t.Helper()
	w := newWakes(l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Listen(ctx, func(int64) {}) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(wait):
				t.Fatalf("Listen did not return within %v of the end of its context", wait)
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return w, stop
}

// backends counts the connections listening on channel, by name.
func backends(t *testing.T, db *testdb.DB, channel string) map[string]int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `
		SELECT application_name, count(*) FROM pg_stat_activity
		WHERE query = 'listen "' || $1 || '"' GROUP BY application_name`, channel)
	require.NoError(t, err)
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		require.NoError(t, rows.Scan(&name, &n))
		m[name] = n
	}
	require.NoError(t, rows.Err())
	return m
}

func TestEachListenHasItsOwnNamedConnection(t *testing.T) {
	db := testdb.NewPostgres(t)
	channel := uniqueChannel(t)
	l, err := pglisten.New(db.DSN, pglisten.WithChannel(channel))
	require.NoError(t, err)
	first, stopFirst := listening(t, l)
	second, stopSecond := listening(t, l)
	first.waitFor(t, 0, 0)
	second.waitFor(t, 0, 0)
	assert.Equal(t, map[string]int{pglisten.DefaultApplicationName: 2}, backends(t, db, channel))

	require.NoError(t, stopFirst())
	require.NoError(t, stopSecond())
	// The connections are closed by the time Listen returns; the server
	// may take a moment to notice.
	require.Eventually(t, func() bool { return len(backends(t, db, channel)) == 0 }, wait, 10*time.Millisecond)
}

func TestNotificationsWakeWithTheirRevision(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewPostgres(t)
	channel := uniqueChannel(t)
	log := &syncBuffer{}
	l, err := pglisten.New(withAppName(t, db.DSN, db.Name+"-listen"), pglisten.WithChannel(channel),
		pglisten.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	require.NoError(t, err)
	w, stop := listening(t, l)
	w.waitFor(t, 0, 0)
	assert.Equal(t, map[string]int{db.Name + "-listen": 1}, backends(t, db, channel), "the connection string's application_name is kept")

	for _, payload := range []string{"7", "not-a-revision", "", "-3", "99999999999999999999", "8"} {
		_, err := db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
		require.NoError(t, err)
	}
	w.waitFor(t, 0, 8)
	seen, _ := w.after(0)
	assert.Equal(t, []int64{0, 7, 0, 0, 0, 0, 8}, seen, "an unreadable payload asks for a full read")
	assert.Equal(t, 4, strings.Count(log.String(), "pglisten: a notification that names no revision"), log.String())
	require.NoError(t, stop())
}

func TestListenEndsWithItsContext(t *testing.T) {
	db := testdb.NewPostgres(t)
	ignore := goleak.IgnoreCurrent()

	t.Run("listening", func(t *testing.T) {
		l, err := pglisten.New(db.DSN, pglisten.WithChannel(uniqueChannel(t)))
		require.NoError(t, err)
		w, stop := listening(t, l)
		w.waitFor(t, 0, 0)
		require.NoError(t, stop())
	})
	t.Run("server unreachable", func(t *testing.T) {
		log := &syncBuffer{}
		// Port 1 refuses at once: every attempt fails, and Listen goes on
		// trying until its context ends.
		l, err := pglisten.New("postgres://app:s3cr3t-pw@127.0.0.1:1/app?connect_timeout=5",
			pglisten.WithReconnectDelay(10*time.Millisecond), pglisten.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
		require.NoError(t, err)
		w, stop := listening(t, l)
		require.Eventually(t, func() bool { return strings.Count(log.String(), "pglisten: not listening; trying again") >= 3 },
			wait, 10*time.Millisecond)
		require.NoError(t, stop())
		assert.Zero(t, w.count(), "never listening, it never woke the store")
		assert.NotContains(t, log.String(), "s3cr3t")
	})
	t.Run("before it connects", func(t *testing.T) {
		l, err := pglisten.New(db.DSN)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, l.Listen(ctx, func(int64) {}))
	})
	goleak.VerifyNone(t, ignore)
}

// A store named a channel of its own notifies there, and a listener of the
// same name hears it: services whose stores share a database keep apart.
func TestStoreAndListenerShareTheirChannel(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewPostgres(t)
	channel := uniqueChannel(t)
	l, err := pglisten.New(db.DSN, pglisten.WithChannel(channel))
	require.NoError(t, err)
	w, stop := listening(t, l)
	w.waitFor(t, 0, 0)
	s, err := flagstore.New(db.DB, dialect.Postgres, flagstore.WithChannel(channel))
	require.NoError(t, err)
	res, err := s.Import(ctx, []byte(seed), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	w.waitFor(t, 0, res.Revision)
	require.NoError(t, stop())

	_, err = flagstore.New(db.DB, dialect.Postgres, flagstore.WithChannel(""))
	require.ErrorContains(t, err, "WithChannel")
}
