package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// post sends body to POST /orders as user and returns the status, the code
// path and the body.
func post(t *testing.T, base, user, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/orders", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("X-Code-Path"), string(b)
}

// flagFile writes a flag file with orders-create-v2 (and the summary flag)
// serving variant.
func flagFile(t *testing.T, variant string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	doc := fmt.Sprintf(`{"flags":{
		"orders-summary-v2":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":%q},
		"orders-create-v2":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":%q}}}`, variant, variant)
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return path
}

func readyBase(t *testing.T, args ...string) string {
	t.Helper()
	base, _, _ := service(t, args...)
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/readyz")
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
	return base
}

// Both implementations store the same row, answer a replay with what is
// stored and refuse another order under a taken id; the summary sees it.
func TestCreateOrderOnBothPaths(t *testing.T) {
	for _, variant := range []string{"on", "off"} {
		t.Run(variant, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "orders.db")
			base := readyBase(t, "--db", dbPath, "--flags", flagFile(t, variant))
			want := map[string]string{"on": "new", "off": "old"}[variant]

			status, path, body := post(t, base, "u1", `{"id": 100, "customer": 2, "totalCents": 900, "note": "gift"}`)
			assert.Equal(t, http.StatusCreated, status, body)
			assert.Equal(t, want, path)
			assert.JSONEq(t, `{"id": 100, "customer": 2, "totalCents": 900, "note": "gift"}`, body)

			status, _, body = post(t, base, "u1", `{"id": 100, "customer": 2, "totalCents": 900, "note": "gift"}`)
			assert.Equal(t, http.StatusOK, status, "a replay: "+body)
			status, _, body = post(t, base, "u1", `{"id": 100, "customer": 2, "totalCents": 901}`)
			assert.Equal(t, http.StatusConflict, status)
			assert.Contains(t, body, "order 100: another order is stored under this id")
			status, _, body = post(t, base, "u1", `{"id": 101, "customer": 9, "totalCents": 1}`)
			assert.Equal(t, http.StatusUnprocessableEntity, status)
			assert.Contains(t, body, "order 101: customer 9: no such customer")

			_, summary := get(t, base+"/summary")
			assert.JSONEq(t, `[{"customer":"Ada","orders":2,"totalCents":2050},{"customer":"Grace","orders":2,"totalCents":5000}]`, string(summary))

			db, err := sql.Open("sqlite", dbPath)
			require.NoError(t, err)
			defer db.Close()
			var n int
			var note string
			require.NoError(t, db.QueryRow("SELECT COUNT(*), MAX(note) FROM orders WHERE id >= 100").Scan(&n, &note))
			assert.Equal(t, 1, n, "one row, whatever was sent")
			assert.Equal(t, "gift", note)
		})
	}
}

// The new implementation writes on PostgreSQL and MySQL too (placeholders,
// the INSERT ... SELECT).
func TestCreateOrderOnServerDatabases(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			dsn := testdb.New(t, d).DSN
			for i, variant := range []string{"on", "off"} {
				base := readyBase(t, "--dialect", d.String(), "--dsn", dsn, "--flags", flagFile(t, variant))
				id := 200 + i
				status, _, body := post(t, base, "u", fmt.Sprintf(`{"id": %d, "customer": 1, "totalCents": 5}`, id))
				assert.Equal(t, http.StatusCreated, status, body)
				status, _, _ = post(t, base, "u", fmt.Sprintf(`{"id": %d, "customer": 1, "totalCents": 5}`, id))
				assert.Equal(t, http.StatusOK, status, "replay on "+variant)
				status, _, _ = post(t, base, "u", fmt.Sprintf(`{"id": %d, "customer": 7, "totalCents": 5}`, id+10))
				assert.Equal(t, http.StatusUnprocessableEntity, status, variant)
			}
		})
	}
}

func TestCreateOrderRefusesBadBodies(t *testing.T) {
	base := readyBase(t, "--db", filepath.Join(t.TempDir(), "orders.db"))
	for _, c := range []struct{ body, want string }{
		{`{"id": 0, "customer": 1, "totalCents": 1}`, "order: id 0: give an id from 1 to 2147483647"},
		{`{"id": 2147483648, "customer": 1, "totalCents": 1}`, "order: id 2147483648: give an id from 1 to 2147483647"},
		{`{"id": 5, "customer": 0, "totalCents": 1}`, "order 5: customer 0: give a customer id"},
		{`{"id": 5, "customer": 1, "totalCents": -1}`, "order 5: totalCents -1 is negative"},
		{`{"id": 5, "customer": 1, "totalCents": 1, "price": 3}`, `unknown field "price"`},
		{`{"id": 5, "customer": 1, "totalCents": 1} {}`, "one JSON object expected"},
		{`{"id": 5, "customer": 1, "totalCents": 1, "note": "` + strings.Repeat("x", 501) + `"}`, "note of 501 bytes is longer than 500"},
		{`not json`, "order: invalid character"},
	} {
		status, _, body := post(t, base, "u", c.body)
		assert.Equal(t, http.StatusBadRequest, status, c.body)
		assert.Contains(t, body, c.want, c.body)
	}
}

// --demo-fault hits the new implementations only; a panic is recovered by
// the Switch, answered 500, and the process keeps serving; a failed write
// stores nothing.
func TestDemoFaultHitsTheNewPathOnly(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "orders.db")
		base := readyBase(t, "--db", dbPath, "--flags", flagFile(t, "on"), "--demo-fault", "error=1")
		status, path, body := post(t, base, "u", `{"id": 300, "customer": 1, "totalCents": 5}`)
		assert.Equal(t, http.StatusInternalServerError, status)
		assert.Equal(t, "new", path)
		assert.Contains(t, body, "create v2: demonstration fault")
		resp, body2 := get(t, base+"/summary")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Equal(t, "new", resp.Header.Get("X-Code-Path"))
		assert.Contains(t, string(body2), "summary v2: demonstration fault")

		db, err := sql.Open("sqlite", dbPath)
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM orders WHERE id = 300").Scan(&n))
		assert.Zero(t, n, "a failed write is not half done")
	})
	t.Run("panic on the old path is not injected", func(t *testing.T) {
		base := readyBase(t, "--db", filepath.Join(t.TempDir(), "orders.db"), "--flags", flagFile(t, "off"), "--demo-fault", "panic=1")
		for i := range 5 {
			status, path, body := post(t, base, "u", fmt.Sprintf(`{"id": %d, "customer": 1, "totalCents": 5}`, 400+i))
			assert.Equal(t, http.StatusCreated, status, body)
			assert.Equal(t, "old", path)
		}
	})
	t.Run("panic", func(t *testing.T) {
		base := readyBase(t, "--db", filepath.Join(t.TempDir(), "orders.db"), "--flags", flagFile(t, "on"), "--demo-fault", "panic=1")
		for range 3 {
			resp, body := get(t, base+"/summary")
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			assert.Contains(t, string(body), "panicked")
		}
		resp, _ := get(t, base+"/livez")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the process survived")
	})
	t.Run("latency", func(t *testing.T) {
		base := readyBase(t, "--db", filepath.Join(t.TempDir(), "orders.db"), "--flags", flagFile(t, "on"), "--demo-fault", "latency=300ms")
		start := time.Now()
		status, path, body := post(t, base, "u", `{"id": 500, "customer": 1, "totalCents": 5}`)
		assert.Equal(t, http.StatusCreated, status, body)
		assert.Equal(t, "new", path)
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	})
}

func TestParseFault(t *testing.T) {
	for in, want := range map[string]fault{
		"none":          {kind: "none"},
		"error=0.5":     {kind: "error", share: 0.5},
		"panic=1":       {kind: "panic", share: 1},
		"latency=300ms": {kind: "latency", delay: 300 * time.Millisecond},
	} {
		got, err := parseFault(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, in, got.String())
	}
	for in, msg := range map[string]string{
		"error":       "want none, error=P, latency=D or panic=P",
		"error=0":     "needs a fraction P above 0 and at most 1",
		"error=1.5":   "needs a fraction P above 0 and at most 1",
		"panic=x":     "needs a fraction P above 0",
		"latency=-1s": "needs a duration D above zero",
		"latency=3":   "needs a duration D above zero",
		"none=1":      "want none",
		"slow":        "want none",
	} {
		_, err := parseFault(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), msg, in)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", in))
	}
	var stderr bytes.Buffer
	_, err := parseConfig([]string{"--demo-fault", "error=2"}, &stderr)
	require.Error(t, err)
	assert.Contains(t, stderr.String()+err.Error(), `fault "error=2"`)
}

// Refusals are the caller's mistakes, not failures of the code path: a
// caller sending unknown customers does not open the breaker for everyone.
func TestRefusedOrdersDoNotTripTheBreaker(t *testing.T) {
	base := readyBase(t, "--db", filepath.Join(t.TempDir(), "orders.db"), "--flags", flagFile(t, "on"))
	for i := range 10 {
		status, path, _ := post(t, base, "u", fmt.Sprintf(`{"id": %d, "customer": 99, "totalCents": 5}`, 600+i))
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, "new", path)
	}
	status, path, body := post(t, base, "u", `{"id": 700, "customer": 1, "totalCents": 5}`)
	assert.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "new", path, "the breaker stayed closed")
	resp, health := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "pass", healthStatus(t, health), string(health))
}
