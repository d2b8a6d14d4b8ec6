package ofrep_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// A write to the fleet's flag store reaches an OFREP client's event
// stream, and its next bulk evaluation sees the change.
func TestFlagStoreWriteReachesTheEventStream(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "flags.db")+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := flagstore.New(db, dialect.SQLite, flagstore.WithPollInterval(10*time.Millisecond))
	require.NoError(t, err)
	first, err := store.Import(ctx, []byte(testFlags), flagstore.Change{Actor: "test", Reason: "start"})
	require.NoError(t, err)

	p, err := flags.NewProvider(store)
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(ctx, p))
	t.Cleanup(func() { _ = api.Shutdown(ctx) })
	_, srv := newHandler(t, p, ofrep.WithEvents(api))

	body := `{"context": {"targetingKey": "u"}}`
	resp, got := do(t, srv, call{path: bulkPath, body: body})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	etag := resp.Header.Get("ETag")
	require.True(t, strings.HasPrefix(etag, fmt.Sprintf(`"r%d-`, first.Revision)), etag)
	assert.Contains(t, string(got), `{"key":"color","value":"red"`)

	s := openStream(t, srv.Client(), srv.URL, nil)
	assert.Equal(t, fmt.Sprintf("retry: 1000\nid: r%d", first.Revision), s.next(t))

	res, err := store.Apply(ctx, flagstore.Change{Actor: "test", Reason: "kill", Edits: []flagstore.Edit{flagstore.SetState("color", flags.Disabled)}})
	require.NoError(t, err)
	var ev ofrep.StreamEvent
	block := s.next(t)
	data, ok := strings.CutPrefix(block, fmt.Sprintf("id: r%d\ndata: ", res.Revision))
	require.True(t, ok, block)
	require.NoError(t, json.Unmarshal([]byte(data), &ev))
	assert.Equal(t, ofrep.StreamEvent{Type: ofrep.EventTypeRefetch, ETag: fmt.Sprintf("r%d", res.Revision)}, ev)

	resp, got = do(t, srv, call{path: bulkPath + "?flagConfigEtag=" + ev.ETag, body: body, header: map[string]string{"If-None-Match": etag}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("ETag"), fmt.Sprintf(`"r%d-`, res.Revision)))
	assert.Contains(t, string(got), `{"key":"color","reason":"DISABLED"`)
}
