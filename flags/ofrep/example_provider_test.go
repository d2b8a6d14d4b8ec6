package ofrep_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// A Go service reads its flags from an OFREP server (flagd, go-feature-flag's
// relay proxy, or another rollsafe service) through the OpenFeature SDK.
func ExampleNewProvider() {
	f := newFake(nil, clientFlags) // stands in for the OFREP server
	srv := httptest.NewServer(f)
	defer srv.Close()

	p, err := ofrep.NewProvider(srv.URL, ofrep.WithBearerToken("service-token"))
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer api.Shutdown(context.Background())
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	client := api.NewClient()
	user := openfeature.NewEvaluationContext("user-1", map[string]any{"email": "ann@example.com"})
	color, _ := client.StringValue(context.Background(), "color", "#000", user)
	_, err = client.BooleanValue(context.Background(), "missing", false, user)
	fmt.Println(color)
	fmt.Println(err)
	// Output:
	// #0f0
	// error code: FLAG_NOT_FOUND: flag "missing": flag "missing" not found
}

// In cached mode the provider fetches every flag once for a fixed context,
// answers from memory, and refetches when the server's event stream says
// a flag changed.
func ExampleWithCachedContext() {
	f := newFake(nil, clientFlags)
	srv := httptest.NewServer(f)
	defer srv.Close()
	defer f.closeStreams()

	service := openfeature.NewEvaluationContext("checkout", map[string]any{"plan": "pro"})
	p, err := ofrep.NewProvider(srv.URL, ofrep.WithCachedContext(service))
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer api.Shutdown(context.Background())
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	limit, _ := api.NewClient().IntValue(context.Background(), "limit", 0, openfeature.EvaluationContext{})
	fmt.Println(limit)
	// Output: 1000
}
