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

// A flags.Provider served over OFREP: what a Node or Java service's OFREP
// provider asks, and what it is told.
func ExampleNewHandler() {
	set, _ := flags.Parse([]byte(`{"flags": {
	  "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
	    "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}}}}`))
	provider, _ := flags.NewProvider(flags.NewMemorySource(set))
	api := isolated.NewAPI()
	_ = api.SetProviderAndWait(context.Background(), provider)
	defer api.Shutdown(context.Background())

	h, err := ofrep.NewHandler(provider)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, body := range []string{
		`{"context": {"targetingKey": "u1", "plan": "pro"}}`,
		`{"context": "pro"}`,
	} {
		resp, err := http.Post(srv.URL+"/ofrep/v1/evaluate/flags/new-checkout", "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	// Output:
	// 200 {"key":"new-checkout","value":true,"reason":"TARGETING_MATCH","variant":"on"}
	// 400 {"key":"new-checkout","errorCode":"INVALID_CONTEXT","errorDetails":"context must be an object, not a string"}
}
