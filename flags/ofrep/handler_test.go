package ofrep_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	vconfig "github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// testFlags has a flag of every kind and every answer the handler maps.
const testFlags = `{
  "metadata": {"team": "checkout"},
  "flags": {
    "bool-static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "metadata": {"owner": "ann", "ticket": 12}},
    "color": {"state": "ENABLED", "variants": {"red": "red", "blue": "blue"}, "defaultVariant": "red",
      "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "blue", null]}},
    "count": {"state": "ENABLED", "variants": {"low": 3, "high": 30}, "defaultVariant": "low"},
    "ratio": {"state": "ENABLED", "variants": {"a": 0.25, "b": 0.75}, "defaultVariant": "b"},
    "config": {"state": "ENABLED", "variants": {"v1": {"size": 1, "tags": ["x"]}}, "defaultVariant": "v1"},
    "rollout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"fractional": [["on", 50], ["off", 50]]}},
    "killed": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "no-default": {"state": "ENABLED", "variants": {"on": true, "off": false}},
    "broken-rule": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"if": [true, "missing-variant", "off"]}}
  }
}`

func noLeaks(t *testing.T) {
	t.Helper()
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

// newProvider returns a flags.Provider over doc, registered with an
// isolated OpenFeature API (shut down when the test ends).
func newProvider(t testing.TB, doc string) (*flags.Provider, *flags.MemorySource, *openfeature.EvaluationAPI) {
	t.Helper()
	set, err := flags.Parse([]byte(doc))
	require.NoError(t, err)
	src := flags.NewMemorySource(set)
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return p, src, api
}

// serve starts h on 127.0.0.1; the server and h close when the test ends.
func serve(t testing.TB, h *ofrep.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		require.NoError(t, h.Close())
		srv.Close()
	})
	return srv
}

func newHandler(t testing.TB, p openfeature.FeatureProvider, opts ...ofrep.Option) (*ofrep.Handler, *httptest.Server) {
	t.Helper()
	h, err := ofrep.NewHandler(p, opts...)
	require.NoError(t, err)
	return h, serve(t, h)
}

var (
	specOnce sync.Once
	specV    validator.Validator
	specErr  error
)

// spec is a validator of the protocol's OpenAPI file (OpenAPI 3.1).
func spec(t testing.TB) validator.Validator {
	t.Helper()
	specOnce.Do(func() {
		data, err := os.ReadFile("testdata/openapi.yaml")
		if err != nil {
			specErr = err
			return
		}
		doc, err := libopenapi.NewDocument(patchSpec(data))
		if err != nil {
			specErr = err
			return
		}
		// The handler is open by default (WithAuthorizer tests 401/403),
		// while the spec lists its two schemes as required.
		v, errs := validator.NewValidator(doc, vconfig.WithoutSecurityValidation())
		if len(errs) > 0 {
			specErr = errs[0]
			return
		}
		specV = v
	})
	require.NoError(t, specErr)
	return specV
}

// specValueOneOf is the spec's choice among the value schemas of a
// success (boolean, string, integer, float, object, codeDefault).
const specValueOneOf = "        - oneOf:\n            - $ref: \"#/components/schemas/booleanFlag\""

// patchSpec mends the one place where the OpenAPI file contradicts its own
// prose, so that a validator can check the rest: a success's value schemas
// are a oneOf, but codeDefaultFlag ({"properties": {}}) matches every
// object and integerFlag's values are floatFlag's too, so under JSON
// Schema no success with a value could validate. anyOf says what the prose
// means ("the value property is present for all flag types except
// codeDefaultFlag"); the test of the value's type is kept.
func patchSpec(data []byte) []byte {
	return bytes.Replace(data, []byte(specValueOneOf), []byte(strings.Replace(specValueOneOf, "oneOf", "anyOf", 1)), 1)
}

// call is one request to a test server.
type call struct {
	method  string
	path    string
	body    string
	header  map[string]string
	lenient bool // the request is outside the spec on purpose: check only the answer
	// unchecked: the answer's status is one the spec does not list (413,
	// 501, 503), so nothing is checked.
	unchecked bool
}

// do sends c to srv and returns the answer and its body, having checked
// both the request and the answer against the OpenAPI file.
func do(t testing.TB, srv *httptest.Server, c call) (*http.Response, []byte) {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		require.NoError(t, err)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		return req
	}
	resp, err := srv.Client().Do(newReq())
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	if c.unchecked {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, body
	}
	v := spec(t)
	check := newReq()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var ok bool
	var errs []*verrors.ValidationError
	if c.lenient {
		ok, errs = v.ValidateHttpResponse(check, resp)
	} else {
		ok, errs = v.ValidateHttpRequestResponse(check, resp)
	}
	require.Truef(t, ok, "%s %s -> %d %s: not as the spec says: %s", c.method, c.path, resp.StatusCode, body, describeErrs(errs))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, body
}

func describeErrs(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  " + e.Error())
		for _, se := range e.SchemaValidationErrors {
			b.WriteString("\n    " + se.Reason + " at " + se.FieldPath)
		}
	}
	return b.String()
}

func evalCtx(targetingKey string) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(targetingKey, nil)
}

func parse(doc string) (*flags.Set, error) { return flags.Parse([]byte(doc)) }

// unregistered is a provider that nobody initialised.
func unregistered(t testing.TB, set *flags.Set) *flags.Provider {
	t.Helper()
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	return p
}

// plainProvider hides every method of a provider but FeatureProvider's:
// a provider that nobody here wrote.
type plainProvider struct{ openfeature.FeatureProvider }

func TestSpecPatchApplies(t *testing.T) {
	data, err := os.ReadFile("testdata/openapi.yaml")
	require.NoError(t, err)
	require.Equal(t, 1, bytes.Count(data, []byte(specValueOneOf)), "the spec changed: review patchSpec")
	require.NotContains(t, string(patchSpec(data)), specValueOneOf)
}
