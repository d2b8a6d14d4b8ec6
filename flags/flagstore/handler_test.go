package flagstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

const newFlag = `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`

// authCall is one question put to the test's authorizer.
type authCall struct {
	Action flagstore.Action
	Key    string
}

// admin is the handler of a store mounted under /admin on a test server.
type admin struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []authCall
}

// Tokens the test authorizer knows: alice is an admin, nobody is admitted
// under no name, anything else is refused.
const (
	alice  = "alice-token"
	nobody = "nobody-token"
)

func newAdmin(t *testing.T, s *flagstore.Store) *admin {
	t.Helper()
	a := &admin{t: t}
	h, err := flagstore.NewHandler(s, func(r *http.Request, action flagstore.Action, key string) (string, error) {
		a.mu.Lock()
		a.calls = append(a.calls, authCall{action, key})
		a.mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "Bearer " + alice:
			return "alice@example.com", nil
		case "Bearer " + nobody:
			return "", nil
		}
		return "", errors.New("token not admitted")
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *admin) takeCalls() []authCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

// request is one request to the admin handler; an empty token sends
// alice's, a body is sent as application/json unless contentType says.
type request struct {
	method, path, body string
	token, contentType string
}

// do sends req and returns the status and the JSON body decoded.
func (a *admin) do(req request) (int, map[string]any) {
	a.t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequestWithContext(context.Background(), req.method, a.srv.URL+"/admin"+req.path, body)
	require.NoError(a.t, err)
	token := req.token
	if token == "" {
		token = alice
	}
	r.Header.Set("Authorization", "Bearer "+token)
	switch {
	case req.contentType == "none":
	case req.contentType != "":
		r.Header.Set("Content-Type", req.contentType)
	case req.body != "":
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.srv.Client().Do(r)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	if resp.StatusCode == http.StatusMethodNotAllowed {
		return resp.StatusCode, nil // ServeMux answers it, in plain text
	}
	assert.Equal(a.t, "application/json", resp.Header.Get("Content-Type"), "%s %s", req.method, req.path)
	var out map[string]any
	require.NoError(a.t, json.Unmarshal(data, &out), "%s %s: %s", req.method, req.path, data)
	return resp.StatusCode, out
}

// ok sends req, requires a 200 and returns the body.
func (a *admin) ok(req request) map[string]any {
	a.t.Helper()
	status, out := a.do(req)
	require.Equal(a.t, http.StatusOK, status, "%s %s: %v", req.method, req.path, out)
	return out
}

func seeded(t *testing.T, db *testdb.DB, opts ...flagstore.Option) *flagstore.Store {
	t.Helper()
	s := newStore(t, db, opts...)
	_, err := s.Import(context.Background(), []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	return s
}

func TestHandlerRoutesAndAuditTrail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := seeded(t, db)
		a := newAdmin(t, s)

		list := a.ok(request{method: "GET", path: "/flags"})
		assert.EqualValues(t, 1, list["revision"])
		assert.Equal(t, []any{}, list["invalid"])
		require.Contains(t, list["flags"], "orders-summary-v2")
		require.Contains(t, list["flags"], "beta-banner")
		def := list["flags"].(map[string]any)["beta-banner"].(map[string]any)
		assert.Equal(t, map[string]any{"$ref": "beta"}, def["targeting"].(map[string]any)["if"].([]any)[0], "definitions as stored, $ref kept")

		one := a.ok(request{method: "GET", path: "/flags/orders-summary-v2"})
		assert.EqualValues(t, 1, one["revision"])
		assert.Equal(t, "orders-summary-v2", one["key"])
		assert.Equal(t, "ENABLED", one["definition"].(map[string]any)["state"])
		assert.NotContains(t, one, "invalid")

		res := a.ok(request{method: "POST", path: "/flags/orders-summary-v2/kill", body: `{"reason":"errors up","releaseId":"r7","baseRevision":1}`})
		assert.Equal(t, map[string]any{"revision": float64(2), "keys": []any{"orders-summary-v2"}}, res)
		cur, err := s.Current(ctx)
		require.NoError(t, err)
		st, _ := cur.State("orders-summary-v2")
		assert.Equal(t, flags.Disabled, st)

		res = a.ok(request{method: "POST", path: "/flags/orders-summary-v2/revive", body: `{"reason":"fixed"}`})
		assert.EqualValues(t, 3, res["revision"])
		// Reviving what is enabled changes nothing: no revision, no record.
		res = a.ok(request{method: "POST", path: "/flags/orders-summary-v2/revive", body: `{"reason":"again"}`})
		assert.Equal(t, map[string]any{"revision": float64(3), "keys": []any{}}, res)

		res = a.ok(request{method: "PUT", path: "/flags/orders-summary-v2/weights",
			body: `{"weights":[{"variant":"off","weight":75},{"variant":"on","weight":25}],"reason":"widen","baseRevision":3}`})
		assert.EqualValues(t, 4, res["revision"])
		one = a.ok(request{method: "GET", path: "/flags/orders-summary-v2"})
		assert.Equal(t, []any{[]any{"off", float64(75)}, []any{"on", float64(25)}},
			one["definition"].(map[string]any)["targeting"].(map[string]any)["fractional"], "the order of the weights is kept")

		res = a.ok(request{method: "PUT", path: "/flags/new-flag", body: `{"definition":` + newFlag + `,"reason":"create"}`})
		assert.Equal(t, map[string]any{"revision": float64(5), "keys": []any{"new-flag"}}, res)
		res = a.ok(request{method: "PUT", path: "/flags/new-flag",
			body: `{"definition":{"state":"DISABLED","variants":{"on":true,"off":false},"defaultVariant":"on"},"reason":"replace","releaseId":"r8"}`})
		assert.EqualValues(t, 6, res["revision"])
		cur, err = s.Current(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"beta-banner", "new-flag", "orders-summary-v2"}, cur.Keys())
		st, _ = cur.State("new-flag")
		assert.Equal(t, flags.Disabled, st)

		hist := a.ok(request{method: "GET", path: "/history"})["records"].([]any)
		require.Len(t, hist, 6)
		for i, rec := range hist {
			r := rec.(map[string]any)
			assert.EqualValues(t, 6-i, r["revision"], "newest first")
			want := "alice@example.com"
			if i == len(hist)-1 {
				want = "ci"
			}
			assert.Equal(t, want, r["actor"], "revision %v", r["revision"])
		}
		assert.Equal(t, "errors up", hist[4].(map[string]any)["reason"])
		assert.Equal(t, "r7", hist[4].(map[string]any)["releaseId"])

		revisions := func(path string) []float64 {
			var out []float64
			for _, rec := range a.ok(request{method: "GET", path: path})["records"].([]any) {
				out = append(out, rec.(map[string]any)["revision"].(float64))
			}
			return out
		}
		assert.Equal(t, []float64{4, 3}, revisions("/history?key=orders-summary-v2&limit=2"))
		assert.Equal(t, []float64{2}, revisions("/history?release=r7"))
		assert.Equal(t, []float64{2, 1}, revisions("/history?before=3"))
		assert.Empty(t, revisions("/history?key=no-such-flag"))

		// The store's own trail records the authorizer's actor.
		recs, err := s.History(ctx, flagstore.Filter{Limit: 5})
		require.NoError(t, err)
		for _, r := range recs {
			assert.Equal(t, "alice@example.com", r.Actor, "revision %d", r.Revision)
		}
		assert.Equal(t, "r8", recs[0].ReleaseID)

		assert.Equal(t, []authCall{
			{flagstore.ActionList, ""},
			{flagstore.ActionRead, "orders-summary-v2"},
			{flagstore.ActionKill, "orders-summary-v2"},
			{flagstore.ActionRevive, "orders-summary-v2"},
			{flagstore.ActionRevive, "orders-summary-v2"},
			{flagstore.ActionWeights, "orders-summary-v2"},
			{flagstore.ActionRead, "orders-summary-v2"},
			{flagstore.ActionReplace, "new-flag"},
			{flagstore.ActionReplace, "new-flag"},
			{flagstore.ActionHistory, ""},
			{flagstore.ActionHistory, "orders-summary-v2"},
			{flagstore.ActionHistory, ""},
			{flagstore.ActionHistory, ""},
			{flagstore.ActionHistory, "no-such-flag"},
		}, a.takeCalls())
	})
}

func TestNewHandlerRefusesAnOpenDoor(t *testing.T) {
	s := newStore(t, testdb.NewSQLite(t))
	h, err := flagstore.NewHandler(s, nil)
	assert.Nil(t, h)
	assert.ErrorContains(t, err, "nil authorizer")
	h, err = flagstore.NewHandler(nil, func(*http.Request, flagstore.Action, string) (string, error) { return "a", nil })
	assert.Nil(t, h)
	assert.ErrorContains(t, err, "nil store")
}

func TestHandlerRefusesAndWritesNothing(t *testing.T) {
	s := seeded(t, testdb.NewSQLite(t))
	a := newAdmin(t, s)
	const kill = "/flags/orders-summary-v2/kill"
	const weights = "/flags/orders-summary-v2/weights"

	cases := []struct {
		name   string
		req    request
		status int
		msg    string
	}{
		{"list refused", request{method: "GET", path: "/flags", token: "mallory"}, 403, "token not admitted"},
		{"read refused", request{method: "GET", path: "/flags/beta-banner", token: "mallory"}, 403, "token not admitted"},
		{"history refused", request{method: "GET", path: "/history", token: "mallory"}, 403, "token not admitted"},
		{"kill refused", request{method: "POST", path: kill, body: `{"reason":"x"}`, token: "mallory"}, 403, "token not admitted"},
		{"refused before the body is read", request{method: "PUT", path: "/flags/x", body: `{`, token: "mallory"}, 403, "token not admitted"},
		{"empty actor", request{method: "POST", path: kill, body: `{"reason":"x"}`, token: nobody}, 403, "named no actor"},
		{"actor in the body", request{method: "POST", path: kill, body: `{"reason":"x","actor":"mallory"}`}, 400, "the actor comes from the authorizer"},
		{"null actor in the body", request{method: "POST", path: kill, body: `{"reason":"x","actor":null}`}, 400, "the actor comes from the authorizer"},
		{"no reason", request{method: "POST", path: kill, body: `{}`}, 400, "no reason"},
		{"blank reason", request{method: "POST", path: "/flags/orders-summary-v2/revive", body: `{"reason":"  "}`}, 400, "no reason"},
		{"bad JSON", request{method: "POST", path: kill, body: `{"reason":`}, 400, "request body"},
		{"not an object", request{method: "POST", path: kill, body: `["x"]`}, 400, "request body"},
		{"unknown field", request{method: "POST", path: kill, body: `{"reason":"x","force":true}`}, 400, `unknown field "force"`},
		{"two values", request{method: "POST", path: kill, body: `{"reason":"x"} {}`}, 400, "more than one JSON value"},
		{"empty body", request{method: "POST", path: kill, contentType: "application/json"}, 400, "empty"},
		{"not JSON content", request{method: "POST", path: kill, body: `{"reason":"x"}`, contentType: "text/plain"}, 415, "application/json"},
		{"form content", request{method: "POST", path: kill, body: `{"reason":"x"}`, contentType: "application/x-www-form-urlencoded"}, 415, "application/json"},
		// fetch(url, {mode: "no-cors", body: new Blob([...])}) from another
		// site sends no type, with the user's cookies and no preflight.
		{"no content type", request{method: "POST", path: kill, body: `{"reason":"x"}`, contentType: "none"}, 415, "no Content-Type"},
		{"too large", request{method: "POST", path: kill, body: `{"reason":"` + strings.Repeat("a", flagstore.MaxRequestBody) + `"}`}, 413, "larger than 1048576 bytes"},
		{"negative base", request{method: "POST", path: kill, body: `{"reason":"x","baseRevision":-1}`}, 400, "negative"},
		{"unknown flag", request{method: "POST", path: "/flags/nope/kill", body: `{"reason":"x"}`}, 404, `"nope"`},
		{"read unknown flag", request{method: "GET", path: "/flags/nope"}, 404, `"nope"`},
		{"weights of unknown flag", request{method: "PUT", path: "/flags/nope/weights", body: `{"weights":[{"variant":"on","weight":1}],"reason":"x"}`}, 404, `"nope"`},
		{"no weights", request{method: "PUT", path: weights, body: `{"reason":"x"}`}, 400, `no "weights"`},
		{"empty weights", request{method: "PUT", path: weights, body: `{"weights":[],"reason":"x"}`}, 422, "no weights given"},
		{"negative weight", request{method: "PUT", path: weights, body: `{"weights":[{"variant":"on","weight":-1}],"reason":"x"}`}, 422, "negative"},
		{"weight not a number", request{method: "PUT", path: weights, body: `{"weights":[{"variant":"on","weight":"ten"}],"reason":"x"}`}, 400, "request body"},
		{"weights as an object", request{method: "PUT", path: weights, body: `{"weights":{"on":10},"reason":"x"}`}, 400, "request body"},
		{"weights without a split", request{method: "PUT", path: "/flags/beta-banner/weights", body: `{"weights":[{"variant":"on","weight":1}],"reason":"x"}`}, 422, "no fractional split"},
		{"no definition", request{method: "PUT", path: "/flags/new-flag", body: `{"reason":"x"}`}, 400, `no "definition"`},
		{"null definition", request{method: "PUT", path: "/flags/new-flag", body: `{"definition":null,"reason":"x"}`}, 400, `no "definition"`},
		{"key too long", request{method: "PUT", path: "/flags/" + strings.Repeat("k", flagstore.MaxKeyLen+1), body: `{"definition":` + newFlag + `,"reason":"x"}`}, 400, "more than 255"},
		{"stale base", request{method: "POST", path: kill, body: `{"reason":"x","baseRevision":0}`}, 409, "based on revision 0, the store is at 1"},
		{"history: bad limit", request{method: "GET", path: "/history?limit=ten"}, 400, `"limit": "ten" is not an integer`},
		{"history: limit too high", request{method: "GET", path: "/history?limit=5000"}, 400, `"limit": 5000 is not between 0 and 1000`},
		{"history: negative before", request{method: "GET", path: "/history?before=-1"}, 400, `"before"`},
		{"history: unknown parameter", request{method: "GET", path: "/history?release_id=r7"}, 400, `unknown query parameter "release_id"`},
		{"history: repeated parameter", request{method: "GET", path: "/history?key=a&key=b"}, 400, `"key" is given 2 times`},
		{"method", request{method: "DELETE", path: "/flags/beta-banner"}, 405, ""},
	}
	for _, tc := range cases {
		status, out := a.do(tc.req)
		require.Equal(t, tc.status, status, "%s: %v", tc.name, out)
		if tc.msg != "" {
			assert.Contains(t, out["error"], tc.msg, tc.name)
		}
	}

	// Definitions that do not validate: 422, naming flag and field.
	status, out := a.do(request{method: "PUT", path: "/flags/new-flag",
		body: `{"definition":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"off"},"reason":"x"}`})
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	require.NotEmpty(t, out["problems"])
	p := out["problems"].([]any)[0].(map[string]any)
	assert.Equal(t, "new-flag", p["flag"])
	assert.Equal(t, "defaultVariant", p["field"])
	assert.NotEmpty(t, p["message"])
	assert.Contains(t, out["error"], `flag "new-flag": defaultVariant`)

	status, out = a.do(request{method: "PUT", path: weights, body: `{"weights":[{"variant":"blue","weight":1}],"reason":"x"}`})
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	assert.Equal(t, "orders-summary-v2", out["problems"].([]any)[0].(map[string]any)["flag"])
	assert.Contains(t, out["error"], `"blue"`)

	// The conflict says both revisions.
	status, out = a.do(request{method: "PUT", path: weights, body: `{"weights":[{"variant":"on","weight":1}],"reason":"x","baseRevision":7}`})
	require.Equal(t, http.StatusConflict, status)
	assert.Equal(t, float64(7), out["baseRevision"])
	assert.Equal(t, float64(1), out["currentRevision"])

	ctx := context.Background()
	rev, err := s.Revision(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rev, "no refused request wrote")
	hist, err := s.History(ctx, flagstore.Filter{})
	require.NoError(t, err)
	assert.Len(t, hist, 1)
	cur, err := s.Current(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"beta-banner", "orders-summary-v2"}, cur.Keys())
	st, _ := cur.State("orders-summary-v2")
	assert.Equal(t, flags.Enabled, st)
}

func TestHandlerShowsRowsChangedByHand(t *testing.T) {
	db := testdb.NewSQLite(t)
	s := seeded(t, db)
	a := newAdmin(t, s)
	_, err := db.Exec(`UPDATE rollsafe_flags SET definition = ? WHERE flag_key = 'beta-banner'`,
		`{"state":"ENABLED","variants":{"on":true},"defaultVariant":"nope"}`)
	require.NoError(t, err)

	list := a.ok(request{method: "GET", path: "/flags"})
	assert.Equal(t, []string{"orders-summary-v2"}, keysOf(list["flags"]), "an invalid flag is not listed as served")
	require.Len(t, list["invalid"], 1)
	p := list["invalid"].([]any)[0].(map[string]any)
	assert.Equal(t, "beta-banner", p["flag"])
	assert.Equal(t, "defaultVariant", p["field"])

	one := a.ok(request{method: "GET", path: "/flags/beta-banner"})
	assert.Equal(t, "nope", one["definition"].(map[string]any)["defaultVariant"], "shown as stored")
	require.Len(t, one["invalid"], 1)

	status, out := a.do(request{method: "POST", path: "/flags/beta-banner/kill", body: `{"reason":"x"}`})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	assert.Contains(t, out["error"], "only replaced")

	_, err = db.Exec(`UPDATE rollsafe_flags SET definition = 'not json' WHERE flag_key = 'beta-banner'`)
	require.NoError(t, err)
	one = a.ok(request{method: "GET", path: "/flags/beta-banner"})
	assert.Equal(t, "not json", one["definition"])

	res := a.ok(request{method: "PUT", path: "/flags/beta-banner", body: `{"definition":` + newFlag + `,"reason":"mend"}`})
	assert.EqualValues(t, 2, res["revision"])
	list = a.ok(request{method: "GET", path: "/flags"})
	assert.Equal(t, []string{"beta-banner", "orders-summary-v2"}, keysOf(list["flags"]))
	assert.Equal(t, []any{}, list["invalid"])
}

func keysOf(v any) []string {
	var keys []string
	for k := range v.(map[string]any) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestHandlerKeyWithSlash(t *testing.T) {
	a := newAdmin(t, seeded(t, testdb.NewSQLite(t)))
	res := a.ok(request{method: "PUT", path: "/flags/team%2Fcheckout", body: `{"definition":` + newFlag + `,"reason":"create"}`})
	assert.Equal(t, []any{"team/checkout"}, res["keys"])
	one := a.ok(request{method: "GET", path: "/flags/team%2Fcheckout"})
	assert.Equal(t, "team/checkout", one["key"])
	res = a.ok(request{method: "POST", path: "/flags/team%2Fcheckout/kill", body: `{"reason":"off"}`})
	assert.Equal(t, []any{"team/checkout"}, res["keys"])
	assert.Equal(t, []authCall{
		{flagstore.ActionReplace, "team/checkout"},
		{flagstore.ActionRead, "team/checkout"},
		{flagstore.ActionKill, "team/checkout"},
	}, a.takeCalls())
}

func TestHandlerServerErrorNamesTheOperationOnly(t *testing.T) {
	db := testdb.NewSQLite(t)
	pool := db.Open(t)
	var logged bytes.Buffer
	s := seeded(t, &testdb.DB{DB: pool, Dialect: db.Dialect}, flagstore.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	a := newAdmin(t, s)
	require.NoError(t, pool.Close())

	for _, req := range []request{
		{method: "GET", path: "/flags"},
		{method: "GET", path: "/flags/beta-banner"},
		{method: "GET", path: "/history"},
		{method: "POST", path: "/flags/beta-banner/kill", body: `{"reason":"x"}`},
	} {
		status, out := a.do(req)
		require.Equal(t, http.StatusInternalServerError, status, "%s %s", req.method, req.path)
		assert.Contains(t, out["error"], "failed; the server's log says why")
		assert.NotContains(t, out["error"], db.Name, "no DSN, no path")
		assert.NotContains(t, out["error"], "database is closed", "the cause goes to the log")
	}
	assert.Contains(t, logged.String(), "op=\"list the flags\"")
	assert.Contains(t, logged.String(), "database is closed")
}
