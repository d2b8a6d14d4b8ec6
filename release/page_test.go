package release_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
	"github.com/rollsafe/rollsafe/version"
)

// pageFixture is a page over a real SQLite database, with a flag store, a
// registry holding one instance and a Controller, served on 127.0.0.1.
type pageFixture struct {
	db    *sql.DB
	store *flagstore.Store
	c     *release.Controller
	page  *release.Page
	srv   *httptest.Server
}

// releasesByHeader is byHeader, with "flags-only", who may do nothing
// with the releases.
func releasesByHeader(r *http.Request, a release.Action, id string) (string, error) {
	if r.Header.Get("X-Actor") == "flags-only" {
		return "", errors.New("flags-only may not read the releases")
	}
	return byHeader(r, a, id)
}

// flagsByHeader is byHeader for the flag store, with "no-flags", who may
// do nothing with the flags.
func flagsByHeader(r *http.Request, a flagstore.Action, _ string) (string, error) {
	actor := r.Header.Get("X-Actor")
	if actor == "" {
		return "", errors.New("who are you?")
	}
	if actor == "no-flags" {
		return "", errors.New("no-flags may not read the flags")
	}
	if actor == "reader" && a != flagstore.ActionList && a != flagstore.ActionRead && a != flagstore.ActionHistory {
		return "", errors.New("reader may not " + string(a))
	}
	return actor, nil
}

func newPageFixture(t *testing.T, opts ...release.PageOption) *pageFixture {
	t.Helper()
	ctx := context.Background()
	db := testdb.NewSQLite(t)
	store, err := flagstore.New(db.DB, dialect.SQLite, flagstore.WithPollInterval(20*time.Millisecond))
	require.NoError(t, err)
	_, err = store.Import(ctx, []byte(handlerFlags), flagstore.Change{Actor: "t", Reason: "seed"})
	require.NoError(t, err)
	reg, err := fleet.NewRegistry(ctx, db.DB, dialect.SQLite)
	require.NoError(t, err)
	_, err = reg.Register(ctx, "http://127.0.0.1:9", version.Manifest{Service: "pay", Version: "1.0.0"})
	require.NoError(t, err)
	c, err := release.NewController(db.DB, dialect.SQLite, store, reg)
	require.NoError(t, err)
	page, err := release.NewPage(c, store, releasesByHeader, flagsByHeader, opts...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	require.NoError(t, page.Mount(mux, "/admin"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = page.Close() })
	return &pageFixture{db: db.DB, store: store, c: c, page: page, srv: srv}
}

// browser is a client with a cookie jar that sends X-Actor as actor.
type browser struct {
	t      *testing.T
	client *http.Client
	base   string
	actor  string
}

func (f *pageFixture) browser(t *testing.T, actor string) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, client: &http.Client{Jar: jar}, base: f.srv.URL + "/admin", actor: actor}
}

func (b *browser) do(method, path string, header http.Header, body string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	require.NoError(b.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.actor != "" {
		req.Header.Set("X-Actor", b.actor)
	}
	res, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	require.NoError(b.t, err)
	return res, string(got)
}

var csrfMeta = regexp.MustCompile(`<meta name="rollsafe-csrf" content="([^"]+)">`)
var stateScript = regexp.MustCompile(`(?s)<script type="application/json" id="state">(.*?)</script>`)

// open loads the page and returns its CSRF token and embedded state.
func (b *browser) open() (string, map[string]any) {
	b.t.Helper()
	res, html := b.do("GET", "/", nil, "")
	require.Equal(b.t, http.StatusOK, res.StatusCode, html)
	m := csrfMeta.FindStringSubmatch(html)
	require.NotNil(b.t, m, "the page has its CSRF token")
	s := stateScript.FindStringSubmatch(html)
	require.NotNil(b.t, s, "the page has its state")
	var st map[string]any
	require.NoError(b.t, json.Unmarshal([]byte(s[1]), &st))
	return m[1], st
}

func (b *browser) state() map[string]any {
	b.t.Helper()
	res, body := b.do("GET", "/api/state", nil, "")
	require.Equal(b.t, http.StatusOK, res.StatusCode, body)
	var st map[string]any
	require.NoError(b.t, json.Unmarshal([]byte(body), &st))
	return st
}

func TestPageEveryResponseHasTheCSP(t *testing.T) {
	f := newPageFixture(t)
	b := f.browser(t, "alice")
	for _, path := range []string{"/", "/assets/page.js", "/assets/page.css", "/api/state", "/api/releases", "/api/flags", "/api/history", "/api/charts/none/latency.svg", "/nothing"} {
		res, _ := b.do("GET", path, nil, "")
		assert.Equal(t, release.PageCSP, res.Header.Get("Content-Security-Policy"), path)
		assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"), path)
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
	}
	assert.NotContains(t, release.PageCSP, "unsafe-inline")

	res, js := b.do("GET", "/assets/page.js", nil, "")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "javascript")
	assert.NotContains(t, js, "innerHTML", "the script draws with textContent only")

	// The bare prefix redirects to the page, whose paths are relative.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := noFollow.Get(f.srv.URL + "/admin")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusSeeOther, r.StatusCode)
	assert.Equal(t, "/admin/", r.Header.Get("Location"))
	assert.Equal(t, release.PageCSP, r.Header.Get("Content-Security-Policy"), "the redirect too")

	// The assets are files, never a listing, and nothing redirects out of
	// the prefix.
	for _, path := range []string{"/admin/assets", "/admin/assets/", "/admin/assets/nothing.js"} {
		r, err := noFollow.Get(f.srv.URL + path)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, http.StatusNotFound, r.StatusCode, path)
		assert.Equal(t, release.PageCSP, r.Header.Get("Content-Security-Policy"), path)
	}
}

func TestPageMountRefusesAPrefixThatIsNoPath(t *testing.T) {
	f := newPageFixture(t)
	for _, prefix := range []string{"admin", "GET /admin", "/admin/{x}", "/ad min", "//admin", "/admin/../x", "/admin/.", "/ad%20min", "/a?b", "/a#b", "/a\x01"} {
		err := f.page.Mount(http.NewServeMux(), prefix)
		assert.ErrorContains(t, err, "mount prefix", prefix)
	}
	for _, prefix := range []string{"", "/", "/admin/", "/ops/page"} {
		assert.NoError(t, f.page.Mount(http.NewServeMux(), prefix), prefix)
	}
}

// A write through the page is seen by the page's next read at once, even
// before the feed has seen it (here the store is polled once an hour).
func TestPageReadsItsOwnWriteAtOnce(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewSQLite(t)
	store, err := flagstore.New(db.DB, dialect.SQLite, flagstore.WithPollInterval(time.Hour))
	require.NoError(t, err)
	_, err = store.Import(ctx, []byte(handlerFlags), flagstore.Change{Actor: "t", Reason: "seed"})
	require.NoError(t, err)
	c, err := release.NewController(db.DB, dialect.SQLite, store, nil)
	require.NoError(t, err)
	page, err := release.NewPage(c, store, releasesByHeader, flagsByHeader)
	require.NoError(t, err)
	defer page.Close()
	mux := http.NewServeMux()
	require.NoError(t, page.Mount(mux, "/admin"))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := &pageFixture{store: store, c: c, page: page, srv: srv}
	b := f.browser(t, "alice")
	token, _ := b.open()

	// A page open: the feed runs and the snapshot is kept.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s := b.events(sctx)
	s.next()
	defer s.body.Close()
	assert.Equal(t, "ENABLED", flagState(b.state(), "pay-v2"))

	res, body := b.do("POST", "/api/flags/pay-v2/kill", http.Header{release.CSRFHeader: {token}}, `{"reason": "now"}`)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Equal(t, "DISABLED", flagState(b.state(), "pay-v2"), "the page reads its own write")
}

func flagState(st map[string]any, key string) any {
	return st["flags"].(map[string]any)["document"].(map[string]any)["flags"].(map[string]any)[key].(map[string]any)["state"]
}

// A flag row made invalid by hand is named, and the other flags are
// shown: the section does not fail.
func TestPageShowsTheValidFlagsBesideAnInvalidOne(t *testing.T) {
	f := newPageFixture(t)
	ctx := context.Background()
	_, err := f.store.Apply(ctx, flagstore.Change{Actor: "t", Reason: "a second flag", Edits: []flagstore.Edit{
		flagstore.Put("search-v2", json.RawMessage(`{"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}`))}})
	require.NoError(t, err)
	_, err = f.db.ExecContext(ctx, `UPDATE rollsafe_flags SET definition = '{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "nope"}' WHERE flag_key = 'search-v2'`)
	require.NoError(t, err)
	st := f.browser(t, "alice").state()
	fl := st["flags"].(map[string]any)
	assert.Contains(t, fl["document"].(map[string]any)["flags"], "pay-v2")
	assert.Contains(t, fl["document"].(map[string]any)["flags"], "search-v2", "as the store holds it")
	require.NotEmpty(t, fl["invalid"])
	assert.Contains(t, fl["invalid"].([]any)[0], "search-v2")
	assert.Nil(t, st["problems"])
}

// A caller that may read the releases but not the flags sees no flag, and
// not even the store's revision; one that may read only the flags sees
// no release, no instance and not the ledger's position.
func TestPagePartlyAuthorizedCallersSeeTheirPartOnly(t *testing.T) {
	f := newPageFixture(t, release.WithPagePollInterval(100*time.Millisecond))
	_, err := f.c.Start(context.Background(), mustPlan(t), "alice")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The releases only.
	b := f.browser(t, "no-flags")
	s := b.events(ctx)
	v := s.next()
	assert.Zero(t, v.Flags)
	assert.Positive(t, v.Releases)
	assert.NotEmpty(t, v.Instances)
	st := b.state()
	assert.Nil(t, st["flags"])
	assert.NotEmpty(t, st["releases"])
	assert.Zero(t, st["versions"].(map[string]any)["flags"])
	s.body.Close()

	// The flags only.
	b = f.browser(t, "flags-only")
	s = b.events(ctx)
	v = s.next()
	assert.Positive(t, v.Flags)
	assert.Zero(t, v.Releases)
	assert.Empty(t, v.Instances)
	st = b.state()
	assert.Nil(t, st["releases"])
	assert.Nil(t, st["instances"])
	assert.NotNil(t, st["flags"])
	_, html := b.do("GET", "/", nil, "")
	assert.NotContains(t, html, "pay-1")
	assert.NotContains(t, html, "127.0.0.1:9")
	s.body.Close()
}

func TestPageOpensOnTheWholeState(t *testing.T) {
	f := newPageFixture(t)
	_, err := f.c.Start(context.Background(), mustPlan(t), "alice")
	require.NoError(t, err)
	_, st := f.browser(t, "alice").open()

	rels := st["releases"].([]any)
	require.Len(t, rels, 1)
	rel := rels[0].(map[string]any)
	assert.Equal(t, "pay-1", rel["id"])
	assert.Equal(t, "Progressing", rel["state"])
	assert.ElementsMatch(t, []any{"pause", "abort"}, rel["can"], "no promote before the first step is written")
	assert.NotEmpty(t, rel["events"], "the running release comes with its ledger")

	fl := st["flags"].(map[string]any)
	doc := fl["document"].(map[string]any)["flags"].(map[string]any)
	assert.Contains(t, doc, "pay-v2")
	assert.ElementsMatch(t, []any{"kill", "revive", "weights"}, fl["can"].(map[string]any)["pay-v2"])
	hist := fl["history"].([]any)
	require.NotEmpty(t, hist)
	assert.Equal(t, "seed", hist[0].(map[string]any)["reason"], "the seed is the newest record: the driver writes the first step")

	ins := st["instances"].([]any)
	require.Len(t, ins, 1)
	assert.Equal(t, "pay", ins[0].(map[string]any)["service"])
}

func mustPlan(t *testing.T) *release.Plan {
	t.Helper()
	var req struct{ Plan *release.Plan }
	require.NoError(t, json.Unmarshal([]byte(handlerPlan), &req))
	return req.Plan
}

func TestPageReadOnlyOffersNoAction(t *testing.T) {
	f := newPageFixture(t)
	_, err := f.c.Start(context.Background(), mustPlan(t), "alice")
	require.NoError(t, err)
	_, st := f.browser(t, "reader").open()
	rel := st["releases"].([]any)[0].(map[string]any)
	assert.Empty(t, rel["can"])
	fl := st["flags"].(map[string]any)
	assert.Empty(t, fl["can"].(map[string]any)["pay-v2"])
	assert.NotNil(t, fl["history"], "a reader reads the audit trail")
}

func TestPageRefusedCallerLearnsNothing(t *testing.T) {
	f := newPageFixture(t)
	_, err := f.c.Start(context.Background(), mustPlan(t), "alice")
	require.NoError(t, err)
	b := f.browser(t, "")

	res, html := b.do("GET", "/", nil, "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	for _, secret := range []string{"pay-v2", "pay-1", "defaultVariant", "127.0.0.1:9"} {
		assert.NotContains(t, html, secret)
	}
	for _, path := range []string{"/api/state", "/api/events", "/api/flags", "/api/history", "/api/releases", "/api/charts/pay-1/error-rate.svg"} {
		res, body := b.do("GET", path, nil, "")
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
		assert.NotContains(t, body, "pay-v2", path)
		assert.NotContains(t, body, "defaultVariant", path)
	}
}

func TestPageWriteNeedsItsCSRFToken(t *testing.T) {
	f := newPageFixture(t)
	b := f.browser(t, "alice")
	token, _ := b.open()
	kill := `{"reason": "pay v2 double-charges"}`
	refusals := map[string]http.Header{
		"no token":     {},
		"wrong token":  {release.CSRFHeader: {token + "x"}},
		"cross-site":   {release.CSRFHeader: {token}, "Sec-Fetch-Site": {"cross-site"}},
		"other origin": {release.CSRFHeader: {token}, "Origin": {"http://evil.example"}},
	}
	for name, h := range refusals {
		res, body := b.do("POST", "/api/flags/pay-v2/kill", h, kill)
		assert.Equal(t, http.StatusForbidden, res.StatusCode, name)
		assert.Contains(t, body, "release: page:", name)
	}
	// Another browser's token does not go with this browser's cookie.
	other, _ := f.browser(t, "alice").open()
	if other != token {
		res, _ := b.do("POST", "/api/flags/pay-v2/kill", http.Header{release.CSRFHeader: {other}}, kill)
		assert.Equal(t, http.StatusForbidden, res.StatusCode, "another browser's token")
	}
	set, err := f.store.Current(context.Background())
	require.NoError(t, err)
	state, _ := set.State("pay-v2")
	assert.Equal(t, flags.Enabled, state, "no refused write changed the flag")

	res, body := b.do("POST", "/api/flags/pay-v2/kill", http.Header{release.CSRFHeader: {token}, "Origin": {f.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}, kill)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	set, err = f.store.Current(context.Background())
	require.NoError(t, err)
	state, _ = set.State("pay-v2")
	assert.Equal(t, flags.Disabled, state)
	recs, err := f.store.History(context.Background(), flagstore.Filter{Key: "pay-v2", Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, "alice", recs[0].Actor)
	assert.Equal(t, "pay v2 double-charges", recs[0].Reason)

	// The token goes with the release handler too, and a reader still is
	// refused by the authorizer behind it.
	_, err = f.c.Start(context.Background(), mustPlan(t), "alice")
	require.NoError(t, err)
	reader := f.browser(t, "reader")
	rt, _ := reader.open()
	res, _ = reader.do("POST", "/api/releases/pay-1/abort", http.Header{release.CSRFHeader: {rt}}, `{"reason": "no"}`)
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	res, body = b.do("POST", "/api/releases/pay-1/abort", http.Header{release.CSRFHeader: {token}}, `{"reason": "pay v2 double-charges"}`)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	st, err := f.c.Status(context.Background(), "pay-1")
	require.NoError(t, err)
	assert.Equal(t, release.StateRolledBack, st.State)
}

// stream reads the server-sent "versions" events of the page.
type stream struct {
	t    *testing.T
	body io.ReadCloser
	sc   *bufio.Scanner
}

func (b *browser) events(ctx context.Context) *stream {
	b.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", b.base+"/api/events", nil)
	require.NoError(b.t, err)
	req.Header.Set("X-Actor", b.actor)
	res, err := b.client.Do(req)
	require.NoError(b.t, err)
	require.Equal(b.t, http.StatusOK, res.StatusCode)
	require.Equal(b.t, "text/event-stream", res.Header.Get("Content-Type"))
	return &stream{t: b.t, body: res.Body, sc: bufio.NewScanner(res.Body)}
}

type pageVersions struct {
	Flags     int64  `json:"flags"`
	Releases  int64  `json:"releases"`
	Instances string `json:"instances"`
}

// next returns the next versions event; it fails the test when the
// stream ends first.
func (s *stream) next() pageVersions {
	s.t.Helper()
	event := ""
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "versions":
			var v pageVersions
			require.NoError(s.t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v))
			return v
		}
	}
	s.t.Fatalf("the stream ended: %v", s.sc.Err())
	return pageVersions{}
}

func TestPageEventsFollowTheStoreAndTheLedger(t *testing.T) {
	f := newPageFixture(t, release.WithPagePollInterval(100*time.Millisecond))
	b := f.browser(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := b.events(ctx)
	first := s.next()
	rev, err := f.store.Revision(ctx)
	require.NoError(t, err)
	assert.Equal(t, rev, first.Flags)
	assert.NotEmpty(t, first.Instances)

	res, err := f.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "off", Edits: []flagstore.Edit{flagstore.SetState("pay-v2", flags.Disabled)}})
	require.NoError(t, err)
	v := s.next()
	for v.Flags < res.Revision {
		v = s.next()
	}
	assert.Equal(t, res.Revision, v.Flags)

	_, err = f.c.Start(ctx, mustPlan(t), "alice")
	require.NoError(t, err)
	for v.Releases == first.Releases {
		v = s.next()
	}
	assert.Greater(t, v.Releases, first.Releases)
	assert.Equal(t, v, pageVersions(b.stateVersions()), "the state read after an event has the event's versions")
	s.body.Close()
}

func (b *browser) stateVersions() pageVersions {
	var v struct {
		Versions pageVersions `json:"versions"`
	}
	res, body := b.do("GET", "/api/state", nil, "")
	require.Equal(b.t, http.StatusOK, res.StatusCode)
	require.NoError(b.t, json.Unmarshal([]byte(body), &v))
	return v.Versions
}

func TestPageCloseEndsTheStreams(t *testing.T) {
	f := newPageFixture(t)
	b := f.browser(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := b.events(ctx)
	s.next()
	require.NoError(t, f.page.Close())
	for s.sc.Scan() {
	}
	require.NoError(t, ctx.Err(), "the stream ended on Close, not on the test's deadline")
	// A page that connects again is served again.
	s = b.events(ctx)
	s.next()
	s.body.Close()
}

func TestPageChart(t *testing.T) {
	f := newPageFixture(t)
	_, err := f.c.Start(context.Background(), mustPlan(t), "alice")
	require.NoError(t, err)
	b := f.browser(t, "reader")
	res, svg := b.do("GET", "/api/charts/pay-1/error-rate.svg", nil, "")
	require.Equal(t, http.StatusOK, res.StatusCode, svg)
	assert.Equal(t, "image/svg+xml", res.Header.Get("Content-Type"))
	assert.Contains(t, svg, "no error rate measurement yet")
	for path, code := range map[string]int{
		"/api/charts/pay-1/cpu.svg":               http.StatusNotFound,
		"/api/charts/nope/latency.svg":            http.StatusNotFound,
		"/api/charts/pay-1/latency.svg?attempt=x": http.StatusBadRequest,
	} {
		res, body := b.do("GET", path, nil, "")
		assert.Equal(t, code, res.StatusCode, path+": "+body)
	}
}

func TestNewPageRefusals(t *testing.T) {
	f := newPageFixture(t)
	_, err := release.NewPage(nil, f.store, byHeader, flagsByHeader)
	assert.ErrorContains(t, err, "nil controller")
	_, err = release.NewPage(f.c, nil, byHeader, flagsByHeader)
	assert.ErrorContains(t, err, "nil flag store")
	_, err = release.NewPage(f.c, f.store, nil, flagsByHeader)
	assert.ErrorContains(t, err, "nil authorizer")
	_, err = release.NewPage(f.c, f.store, byHeader, nil)
	assert.ErrorContains(t, err, "nil authorizer")
	for _, o := range []release.PageOption{
		release.WithPageCSRFKey([]byte("short")), release.WithPagePollInterval(time.Millisecond),
		release.WithPageHistory(0), release.WithPageHistory(flagstore.MaxHistoryLimit), release.WithPageTitle(" "), nil,
	} {
		_, err := release.NewPage(f.c, f.store, byHeader, flagsByHeader, o)
		assert.ErrorContains(t, err, "release: page:")
	}
}

func TestPageSharedCSRFKeyWorksAcrossInstances(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	f := newPageFixture(t, release.WithPageCSRFKey(key))
	g, err := release.NewPage(f.c, f.store, byHeader, flagsByHeader, release.WithPageCSRFKey(key))
	require.NoError(t, err)
	other := httptest.NewServer(g)
	defer other.Close()
	b := f.browser(t, "alice")
	token, _ := b.open()
	// The cookie of the first instance, sent to the second.
	u := f.srv.URL + "/admin/"
	req, err := http.NewRequest("POST", other.URL+"/api/flags/pay-v2/kill", strings.NewReader(`{"reason": "r"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Actor", "alice")
	req.Header.Set(release.CSRFHeader, token)
	pu, err := http.NewRequest("GET", u, nil)
	require.NoError(t, err)
	for _, c := range b.client.Jar.Cookies(pu.URL) {
		req.AddCookie(c)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}
