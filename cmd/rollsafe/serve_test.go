package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// startServe runs rollsafe serve in-process on r's database and returns
// its URL; it stops, and its exit code is checked, when the test ends.
func startServe(t *testing.T, r *releaseDB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errOut strings.Builder
	done := make(chan int, 1)
	go func() {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--dialect", r.Dialect.String(), "--dsn", r.DSN}, args...)
		done <- run(ctx, args, strings.NewReader(""), pw, &errOut)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, "serve printed nothing")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`at (http://\S+/)`).FindStringSubmatch(line)
	require.NotNil(t, m, line)
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, exitOK, <-done, "serve ends with 0 on a signal: %s", errOut.String())
	})
	return m[1]
}

// pageClient loads the page and returns a client with its cookie, and the
// page's CSRF token and state.
func pageClient(t *testing.T, url string, header http.Header) (*http.Client, string, map[string]any) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	maps.Copy(req.Header, header)
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
	assert.Equal(t, release.PageCSP, res.Header.Get("Content-Security-Policy"))
	token := regexp.MustCompile(`name="rollsafe-csrf" content="([^"]+)"`).FindStringSubmatch(string(b))
	require.NotNil(t, token)
	state := regexp.MustCompile(`(?s)id="state">(.*?)</script>`).FindStringSubmatch(string(b))
	require.NotNil(t, state)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(state[1]), &st))
	return c, token[1], st
}

func postKill(t *testing.T, c *http.Client, url, token string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"api/flags/search-v2/kill", strings.NewReader(`{"reason": "search v2 is down"}`))
	require.NoError(t, err)
	maps.Copy(req.Header, header)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(release.CSRFHeader, token)
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func storeState(t *testing.T, s *flagstore.Store, key string) flags.State {
	t.Helper()
	set, err := s.Current(context.Background())
	require.NoError(t, err)
	st, _ := set.State(key)
	return st
}

func TestServeThePageOfAFleet(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		r := newReleaseDB(t, db)
		url := startServe(t, r, "--actor", "alice")
		c, token, st := pageClient(t, url, nil)
		fl := st["flags"].(map[string]any)
		assert.Contains(t, fl["document"].(map[string]any)["flags"], "search-v2")
		assert.ElementsMatch(t, []any{"kill", "revive", "weights"}, fl["can"].(map[string]any)["search-v2"])

		code, body := postKill(t, c, url, token, nil)
		require.Equal(t, http.StatusOK, code, body)
		assert.Equal(t, flags.Disabled, storeState(t, r.store, "search-v2"))
		recs, err := r.store.History(context.Background(), flagstore.Filter{Key: "search-v2", Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, "alice", recs[0].Actor, "the write is recorded under --actor")
		assert.Equal(t, "search v2 is down", recs[0].Reason)
	})
}

func TestServeReadOnly(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	url := startServe(t, r, "--read-only")
	c, token, st := pageClient(t, url, nil)
	fl := st["flags"].(map[string]any)
	assert.Empty(t, fl["can"].(map[string]any)["search-v2"], "no action on a read-only page")
	assert.NotNil(t, fl["history"], "but everything to read")
	code, body := postKill(t, c, url, token, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "read-only")
	assert.Equal(t, flags.Enabled, storeState(t, r.store, "search-v2"))
}

func TestServeBehindAnAuthenticatingProxy(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	url := startServe(t, r, "--user-header", "X-Forwarded-User")

	// Without the header: refused, and nothing of the flags shown.
	res, err := http.Get(url + "api/state")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.NotContains(t, string(b), "search-v2")

	who := http.Header{"X-Forwarded-User": {"bob"}}
	c, token, _ := pageClient(t, url, who)
	code, body := postKill(t, c, url, token, who)
	require.Equal(t, http.StatusOK, code, body)
	recs, err := r.store.History(context.Background(), flagstore.Filter{Key: "search-v2", Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, "bob", recs[0].Actor, "the write is recorded under the proxy's user")

	// A page of another site reaching the address by its own name (DNS
	// rebinding) sends the header it likes, and is refused all the same.
	req, err := http.NewRequest("GET", url+"api/state", nil)
	require.NoError(t, err)
	req.Host = "evil.example:8099"
	req.Header.Set("X-Forwarded-User", "mallory")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.NotContains(t, string(b), "search-v2")
}

func TestServeBehindAProxyByItsName(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	url := startServe(t, r, "--user-header", "X-Forwarded-User", "--host", "flags.corp.example, Ops.Corp.Example.,,[2001:db8::1]")
	for host, want := range map[string]int{
		"ops.corp.example": http.StatusOK, "ops.corp.example:443": http.StatusOK, "OPS.corp.example.": http.StatusOK,
		"flags.corp.example": http.StatusOK, "[2001:db8::1]:443": http.StatusOK, "[2001:db8::1]": http.StatusOK,
		"evil.example": http.StatusForbidden, "flags.corp.example.evil.example": http.StatusForbidden,
	} {
		req, err := http.NewRequest("GET", url+"api/state", nil)
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("X-Forwarded-User", "bob")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, want, res.StatusCode, host)
	}
}

// A page of another site reaching 127.0.0.1 by a name of its own (DNS
// rebinding) is refused.
func TestServeRefusesAnotherHostName(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	url := startServe(t, r, "--actor", "alice")
	req, err := http.NewRequest("GET", url+"api/state", nil)
	require.NoError(t, err)
	req.Host = "evil.example:8099"
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.NotContains(t, string(b), "search-v2")
}

func TestServeUsage(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	for name, args := range map[string][]string{
		"no database":     {"serve"},
		"bad address":     {"serve", "--dialect", "sqlite", "--dsn", r.DSN, "--addr", "127.0.0.1:99999"},
		"two actors":      {"serve", "--dialect", "sqlite", "--dsn", r.DSN, "--actor", "a", "--user-header", "X-User"},
		"host alone":      {"serve", "--dialect", "sqlite", "--dsn", r.DSN, "--host", "ops.example"},
		"host with port":  {"serve", "--dialect", "sqlite", "--dsn", r.DSN, "--user-header", "X-User", "--host", "ops.example:443"},
		"host with path":  {"serve", "--dialect", "sqlite", "--dsn", r.DSN, "--user-header", "X-User", "--host", "ops.example/x"},
		"an argument":     {"serve", "extra"},
		"no such file":    {"serve", "--dialect", "sqlite", "--dsn", t.TempDir() + "/none.db"},
		"unknown dialect": {"serve", "--dialect", "oracle", "--dsn", "x"},
	} {
		code, _, errOut := rollsafe(t, args...)
		assert.Equal(t, exitCantRun, code, name)
		assert.Contains(t, errOut, "rollsafe: serve", name)
	}
	code, out, _ := rollsafe(t, "help", "serve")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "--read-only")
}
