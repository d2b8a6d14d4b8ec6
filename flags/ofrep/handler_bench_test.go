package ofrep_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// benchFlags is 100 flags: a split, a rule and a static flag, repeated.
func benchFlags() string {
	var b strings.Builder
	b.WriteString(`{"flags": {`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `"f%03d": {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old", "targeting": {"fractional": [["new", 10], ["old", 90]]}}`, i)
		case 1:
			fmt.Fprintf(&b, `"f%03d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off", "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}}`, i)
		default:
			fmt.Fprintf(&b, `"f%03d": {"state": "ENABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}`, i)
		}
	}
	b.WriteString(`}}`)
	return b.String()
}

// BenchmarkHandler: OFREP over loopback HTTP (a real server and client,
// keep-alive) against an in-process evaluation of the same flag.
//   - http-single: POST /ofrep/v1/evaluate/flags/f000 (a 10/90 split);
//   - http-bulk100: POST /ofrep/v1/evaluate/flags, 100 flags;
//   - in-process: the same flag through the OpenFeature SDK and flags.Provider.
func BenchmarkHandler(b *testing.B) {
	set, err := flags.Parse([]byte(benchFlags()))
	if err != nil {
		b.Fatal(err)
	}
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	if err != nil {
		b.Fatal(err)
	}
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	h, err := ofrep.NewHandler(p)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	client := srv.Client()
	body := []byte(`{"context":{"targetingKey":"user-42","plan":"pro"}}`)
	post := func(b *testing.B, url string) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("http-single", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			post(b, srv.URL+"/ofrep/v1/evaluate/flags/f000")
		}
	})
	b.Run("http-bulk100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			post(b, srv.URL+"/ofrep/v1/evaluate/flags")
		}
	})
	b.Run("in-process", func(b *testing.B) {
		c := api.NewClient()
		evalCtx := openfeature.NewEvaluationContext("user-42", map[string]any{"plan": "pro"})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.BooleanValue(context.Background(), "f000", false, evalCtx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
