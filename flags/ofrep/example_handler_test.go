package ofrep_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// Serving a provider's flags over OFREP, behind an API key, to services in
// any language.
func ExampleNewHandler() {
	ctx := context.Background()
	set, err := flags.Parse([]byte(`{"flags": {"new-checkout": {
	  "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
	  "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", null]}}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	provider, err := flags.NewProvider(flags.NewMemorySource(set))
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer api.Shutdown(ctx)
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		fmt.Println(err)
		return
	}

	h, err := ofrep.NewHandler(provider,
		ofrep.WithEvents(api),
		ofrep.WithAuthorizer(func(_ *http.Request, key string) error {
			if key != "s3cret" {
				return fmt.Errorf("unknown API key")
			}
			return nil
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/ofrep/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, key := range []string{"s3cret", "guess"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ofrep/v1/evaluate/flags/new-checkout",
			strings.NewReader(`{"context": {"targetingKey": "user-7", "plan": "pro"}}`))
		req.Header.Set("X-API-Key", key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 {"key":"new-checkout","value":true,"reason":"TARGETING_MATCH","variant":"on"}
	// 403
}
