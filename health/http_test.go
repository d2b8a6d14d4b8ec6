package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/health"
)

// body is the application/health+json shape, decoded.
type body struct {
	Status      string             `json:"status"`
	Version     string             `json:"version"`
	ReleaseID   string             `json:"releaseId"`
	ServiceID   string             `json:"serviceId"`
	Description string             `json:"description"`
	Notes       []string           `json:"notes"`
	Output      string             `json:"output"`
	Checks      map[string][]entry `json:"checks"`
}

type entry struct {
	ComponentID   string `json:"componentId"`
	ComponentType string `json:"componentType"`
	ObservedValue any    `json:"observedValue"`
	ObservedUnit  string `json:"observedUnit"`
	Status        string `json:"status"`
	Time          string `json:"time"`
	Output        string `json:"output"`
}

// detailedChecker has one passing measured check and one failing check.
func detailedChecker(t *testing.T, opts ...health.Option) *health.Checker {
	t.Helper()
	clock := newManualClock()
	opts = append([]health.Option{
		health.WithClock(clock.Now), health.WithServiceID("orders-7f9c"), health.WithVersion("2"),
		health.WithReleaseID("2.3.1"), health.WithDescription("orders API"), health.WithNotes("canary"),
	}, opts...)
	c := newChecker(t, opts...)
	require.NoError(t, c.RegisterMeasured("pool", func(context.Context) (health.Result, error) {
		return health.Result{ObservedValue: 7.5, ObservedUnit: "connections", Output: "7.5 of 10 in use"}, nil
	}, health.WithMeasurement("connections"), health.WithComponentType("datastore"), health.WithComponentID("pg-main")))
	require.NoError(t, c.Register("payments", func(context.Context) error {
		return errors.New(`dial tcp 10.0.0.9:443: "connection refused"`)
	}, health.WithComponentType("component")))
	return c
}

func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) body {
	t.Helper()
	var b body
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
	return b
}

func TestDetailsWithheldOrShown(t *testing.T) {
	admin := func(r *http.Request) bool { return r.Header.Get("X-Admin") == "yes" }
	tests := []struct {
		name    string
		opts    []health.Option
		header  http.Header
		details bool
	}{
		{name: "no authorizer withholds", details: false},
		{name: "authorizer refuses", opts: []health.Option{health.WithAuthorizer(admin)}, header: http.Header{"X-Admin": {"no"}}, details: false},
		{name: "authorizer admits", opts: []health.Option{health.WithAuthorizer(admin)}, header: http.Header{"X-Admin": {"yes"}}, details: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := detailedChecker(t, tt.opts...)
			rec := serve(t, c.Handler(health.Readiness), http.MethodGet, "/readyz", tt.header)
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Equal(t, health.ContentType, rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			b := decode(t, rec)
			assert.Equal(t, "fail", b.Status)
			assert.Equal(t, "2", b.Version)
			assert.Equal(t, "2.3.1", b.ReleaseID)
			assert.Equal(t, "orders-7f9c", b.ServiceID)
			assert.Equal(t, "orders API", b.Description)
			assert.Equal(t, []string{"canary"}, b.Notes)
			require.Len(t, b.Checks, 2)
			require.Len(t, b.Checks["pool:connections"], 1)
			require.Len(t, b.Checks["payments"], 1)
			pool, pay := b.Checks["pool:connections"][0], b.Checks["payments"][0]
			assert.Equal(t, "pass", pool.Status)
			assert.Equal(t, "fail", pay.Status)
			if tt.details {
				assert.Equal(t, entry{
					ComponentID: "pg-main", ComponentType: "datastore", ObservedValue: 7.5,
					ObservedUnit: "connections", Status: "pass", Time: "2026-03-01T12:00:00Z",
					Output: "7.5 of 10 in use",
				}, pool)
				assert.Equal(t, `dial tcp 10.0.0.9:443: "connection refused"`, pay.Output)
				assert.Equal(t, "component", pay.ComponentType)
			} else {
				assert.Equal(t, entry{Status: "pass"}, pool)
				assert.Equal(t, entry{Status: "fail"}, pay)
				assert.NotContains(t, rec.Body.String(), "10.0.0.9")
			}

			verbose := serve(t, c.Handler(health.Readiness), http.MethodGet, "/readyz?verbose", tt.header)
			if tt.details {
				assert.Contains(t, verbose.Body.String(), `[-]payments failed: dial tcp 10.0.0.9:443: "connection refused"`)
			} else {
				assert.Contains(t, verbose.Body.String(), "[-]payments failed: reason withheld")
				assert.NotContains(t, verbose.Body.String(), "10.0.0.9")
			}
		})
	}
}

func TestVerboseAndExclude(t *testing.T) {
	tests := []struct {
		name  string
		query string
		code  int
		body  string
	}{
		{
			name: "verbose", query: "verbose", code: 503,
			body: "[-]payments failed: reason withheld\n[+]pool ok\nreadyz check failed\n",
		},
		{
			name: "verbose with a value", query: "verbose=1", code: 503,
			body: "[-]payments failed: reason withheld\n[+]pool ok\nreadyz check failed\n",
		},
		{
			name: "exclude the failing check", query: "verbose&exclude=payments", code: 200,
			body: "[+]pool ok\nreadyz check passed\n",
		},
		{
			name: "exclude both", query: "verbose&exclude=payments&exclude=pool", code: 200,
			body: "readyz check passed\n",
		},
		{
			name: "exclude an unknown name", query: "verbose&exclude=nope&exclude=payments", code: 200,
			body: "[+]pool ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := detailedChecker(t)
			rec := serve(t, c.Handler(health.Readiness), http.MethodGet, "/readyz?"+tt.query, nil)
			assert.Equal(t, tt.code, rec.Code)
			assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, tt.body, rec.Body.String())
		})
	}

	t.Run("exclude in JSON", func(t *testing.T) {
		c := detailedChecker(t)
		rec := serve(t, c.Handler(health.Readiness), http.MethodGet, "/readyz?exclude=payments", nil)
		assert.Equal(t, http.StatusOK, rec.Code)
		b := decode(t, rec)
		assert.Equal(t, "pass", b.Status)
		assert.Equal(t, []string{"pool:connections"}, keys(b.Checks))
	})
}

func keys(m map[string][]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEndpointsSelectChecks(t *testing.T) {
	c := newChecker(t)
	ok := func(context.Context) error { return nil }
	require.NoError(t, c.Register("db", ok))
	require.NoError(t, c.Register("goroutines", ok, health.LivenessOnly()))
	require.NoError(t, c.Register("deadlock", ok, health.LivenessAndReadiness()))
	mux := http.NewServeMux()
	c.Mount(mux)

	tests := []struct {
		path string
		want []string
	}{
		{path: "/livez", want: []string{"deadlock", "goroutines"}},
		{path: "/readyz", want: []string{"db", "deadlock"}},
		{path: "/healthz", want: []string{"db", "deadlock", "goroutines"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := serve(t, mux, http.MethodGet, tt.path, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.ElementsMatch(t, tt.want, keys(decode(t, rec).Checks))
		})
	}
	assert.Equal(t, []string{"deadlock", "goroutines"}, c.Names(health.Liveness))
	assert.Equal(t, []string{"db", "deadlock"}, c.Names(health.Readiness))
	assert.Equal(t, []string{"db", "deadlock", "goroutines"}, c.Names(health.All))
}

func TestLivenessWithoutChecksIgnoresFailingDependencies(t *testing.T) {
	c := newChecker(t)
	require.NoError(t, c.Register("db", func(context.Context) error { return errors.New("down") }))
	rec := serve(t, c.Handler(health.Liveness), http.MethodGet, "/livez", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, `{"status":"pass","checks":{}}`, rec.Body.String())
}

func TestMethods(t *testing.T) {
	c := detailedChecker(t)
	tests := []struct {
		method string
		code   int
		body   bool
	}{
		{method: http.MethodGet, code: 503, body: true},
		{method: http.MethodHead, code: 503, body: false},
		{method: http.MethodPost, code: 405, body: true},
		{method: http.MethodDelete, code: 405, body: true},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			rec := serve(t, c.Handler(health.All), tt.method, "/healthz", nil)
			assert.Equal(t, tt.code, rec.Code)
			assert.Equal(t, tt.body, rec.Body.Len() > 0)
			if tt.code == 405 {
				assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestOverRealHTTP(t *testing.T) {
	c := detailedChecker(t, health.WithAuthorizer(func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer ops"
	}))
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/healthz", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer ops")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var b body
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
	assert.Equal(t, "7.5 of 10 in use", b.Checks["pool:connections"][0].Output)
}

func TestObservedValueThatDoesNotEncode(t *testing.T) {
	c := newChecker(t, health.WithAuthorizer(admitAll))
	require.NoError(t, c.RegisterMeasured("odd", func(context.Context) (health.Result, error) {
		return health.Result{ObservedValue: func() {}}, nil
	}))
	rec := serve(t, c.Handler(health.Readiness), http.MethodGet, "/readyz", nil)
	b := decode(t, rec)
	v, ok := b.Checks["odd"][0].ObservedValue.(string)
	assert.True(t, ok, "observed value should fall back to its printed form")
	assert.NotEmpty(t, v)
}

func FuzzHandlerQuery(f *testing.F) {
	for _, q := range []string{"", "verbose", "exclude=db", "verbose&exclude=db&exclude=x", "exclude=%zz", "exclude=\"\\", ";;;&&="} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		c, err := health.New()
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Register("db", func(context.Context) error { return errors.New("down") }))
		req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		c.Handler(health.Readiness).ServeHTTP(rec, req)
		require.Contains(t, []int{200, 503}, rec.Code)
		q, _ := url.ParseQuery(query) // the handler reads what parses
		if _, verbose := q["verbose"]; verbose {
			require.True(t, strings.HasSuffix(rec.Body.String(), " check passed\n") ||
				strings.HasSuffix(rec.Body.String(), " check failed\n"), rec.Body.String())
			return
		}
		var b body
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
		require.Contains(t, []string{"pass", "fail"}, b.Status)
	})
}

func TestTimeIsClockTime(t *testing.T) {
	clock := newManualClock()
	c := newChecker(t, health.WithClock(clock.Now), health.WithAuthorizer(admitAll))
	require.NoError(t, c.Register("db", func(context.Context) error { return nil }))
	clock.Advance(90 * time.Minute)
	b := decode(t, serve(t, c.Handler(health.Readiness), http.MethodGet, "/readyz", nil))
	assert.Equal(t, "2026-03-01T13:30:00Z", b.Checks["db"][0].Time)
}
