package health_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/health"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

func TestDBPing(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "ping.db"))
	require.NoError(t, err)
	check := health.DBPing(db)
	require.NoError(t, check(context.Background()))

	require.NoError(t, db.Close())
	err = check(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, "database ping")
	assert.ErrorContains(t, health.DBPing(nil)(context.Background()), "nil *sql.DB")

	c := newChecker(t)
	require.NoError(t, c.Register("db", check))
	assert.Equal(t, health.Fail, c.Check(context.Background(), health.Readiness).Status)
}

func TestDBPingEveryDatabase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		pool := db.Open(t)
		check := health.DBPing(pool)
		require.NoError(t, check(context.Background()))
		require.NoError(t, pool.Close())
		assert.ErrorContains(t, check(context.Background()), "database ping")
	})
}

func TestHTTPGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20))) // larger than what the check reads
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	tests := []struct {
		name   string
		url    string
		client *http.Client
		err    string
		hidden string
	}{
		{name: "200 passes", url: srv.URL + "/ok", client: srv.Client()},
		{name: "201 passes", url: srv.URL + "/created", client: srv.Client()},
		{name: "nil client uses the default", url: srv.URL + "/ok"},
		{name: "503 fails", url: srv.URL + "/down", client: srv.Client(), err: "status 503 Service Unavailable"},
		{name: "404 fails", url: srv.URL + "/missing", client: srv.Client(), err: "status 404"},
		{
			name: "unreachable fails without the password",
			url:  strings.Replace(deadURL, "http://", "http://ops:s3cret@", 1) + "/ok",
			err:  "http get http://ops:xxxxx@", hidden: "s3cret",
		},
		{name: "unparsable url", url: "http://ops:s3cret@host/%zz", err: "invalid url", hidden: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := health.HTTPGet(tt.client, tt.url)(context.Background())
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.err)
			if tt.hidden != "" {
				assert.NotContains(t, err.Error(), tt.hidden)
			}
		})
	}
}
