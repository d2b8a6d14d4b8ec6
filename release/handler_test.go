package release_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

const handlerFlags = `{"flags": {"pay-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`

const handlerPlan = `{"plan": {"id": "pay-1", "flags": [{"key": "pay-v2", "baseline": "off", "canary": "on"}],
	"steps": [{"weights": {"pay-v2": 10}}, {"weights": {"pay-v2": 100}}]}, "reason": "ship pay v2"}`

func newController(t *testing.T) *release.Controller {
	t.Helper()
	db := testdb.NewSQLite(t)
	store, err := flagstore.New(db.DB, dialect.SQLite)
	require.NoError(t, err)
	_, err = store.Import(context.Background(), []byte(handlerFlags), flagstore.Change{Actor: "t", Reason: "seed"})
	require.NoError(t, err)
	c, err := release.NewController(db.DB, dialect.SQLite, store, nil)
	require.NoError(t, err)
	return c
}

// byHeader authorizes the actor named in X-Actor; "reader" may only read.
func byHeader(r *http.Request, a release.Action, id string) (string, error) {
	actor := r.Header.Get("X-Actor")
	if actor == "" {
		return "", errors.New("who are you?")
	}
	if actor == "reader" && a != release.ActionList && a != release.ActionRead {
		return "", errors.New("reader may not " + string(a))
	}
	return actor, nil
}

func call(t *testing.T, h http.Handler, method, path, actor, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if actor != "" {
		req.Header.Set("X-Actor", actor)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 && rec.Header().Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	}
	return rec.Code, out
}

func TestHandler(t *testing.T) {
	c := newController(t)
	h, err := release.NewHandler(c, byHeader)
	require.NoError(t, err)

	code, body := call(t, h, "POST", "/releases", "alice", handlerPlan)
	require.Equal(t, http.StatusCreated, code, body)
	assert.Equal(t, "pay-1", body["id"])
	assert.Equal(t, "Progressing", body["state"])
	assert.Equal(t, "alice", body["startedBy"])

	code, body = call(t, h, "POST", "/releases", "alice", handlerPlan)
	assert.Equal(t, http.StatusConflict, code, body)

	code, body = call(t, h, "GET", "/releases", "reader", "")
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, body["releases"], 1)

	code, _ = call(t, h, "POST", "/releases/pay-1/pause", "reader", `{"reason": "x"}`)
	assert.Equal(t, http.StatusForbidden, code)
	code, body = call(t, h, "POST", "/releases/pay-1/pause", "bob", `{}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body["error"], `"reason" is required`)
	code, body = call(t, h, "POST", "/releases/pay-1/pause", "bob", `{"reason": "lunch", "actor": "mallory"}`)
	assert.Equal(t, http.StatusBadRequest, code, "the actor comes from the authorizer: %v", body)

	code, body = call(t, h, "POST", "/releases/pay-1/pause", "bob", `{"reason": "lunch"}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "Paused", body["state"])

	code, body = call(t, h, "POST", "/releases/pay-1/abort", "bob", `{"reason": "changed my mind"}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "RolledBack", body["state"])
	assert.Equal(t, "bob: changed my mind", body["outcome"])
	code, _ = call(t, h, "POST", "/releases/pay-1/resume", "bob", `{"reason": "oops"}`)
	assert.Equal(t, http.StatusConflict, code, "a release that is over")

	code, body = call(t, h, "GET", "/releases/pay-1/events?kind=paused&kind=rollback", "reader", "")
	require.Equal(t, http.StatusOK, code)
	evs := body["events"].([]any)
	require.Len(t, evs, 2)
	assert.Equal(t, "bob", evs[0].(map[string]any)["actor"])
	assert.Equal(t, "lunch", evs[0].(map[string]any)["reason"])

	code, _ = call(t, h, "GET", "/releases/nope", "reader", "")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = call(t, h, "GET", "/releases/pay-1/events?after=-1", "reader", "")
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = call(t, h, "GET", "/releases", "", "")
	assert.Equal(t, http.StatusForbidden, code, "reads go through the authorizer too")

	// A body that is not application/json never writes.
	req := httptest.NewRequest("POST", "/releases/pay-1/abort", strings.NewReader(`{"reason": "csrf"}`))
	req.Header.Set("X-Actor", "bob")
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
}

func TestHandlerStartRefusals(t *testing.T) {
	c := newController(t)
	h, err := release.NewHandler(c, byHeader)
	require.NoError(t, err)
	code, body := call(t, h, "POST", "/releases", "alice", `{"plan": {"id": "x", "flags": [], "steps": []}, "reason": "r"}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.NotEmpty(t, body["problems"], "an invalid plan names its problems by field")
	code, _ = call(t, h, "POST", "/releases", "alice", `{"plan": {"id": "x", "flags": [{"key": "nope", "baseline": "off", "canary": "on"}], "steps": [{"weights": {"nope": 5}}]}, "reason": "r"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, code, "a flag that is not in the store")
	code, _ = call(t, h, "POST", "/releases", "alice", `{"reason": "r"}`)
	assert.Equal(t, http.StatusBadRequest, code)
}

func TestHandlerConstruction(t *testing.T) {
	c := newController(t)
	_, err := release.NewHandler(c, nil)
	require.Error(t, err, "no authorizer, no handler")
	_, err = release.NewHandler(nil, byHeader)
	require.Error(t, err)

	status, err := release.NewStatusHandler(c)
	require.NoError(t, err)
	code, body := call(t, status, "GET", "/releases", "", "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []any{}, body["releases"])
	code, _ = call(t, status, "POST", "/releases", "alice", handlerPlan)
	assert.Equal(t, http.StatusMethodNotAllowed, code, "the status handler has no writes")
}
