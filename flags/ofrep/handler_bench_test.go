package ofrep_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// benchFlags is 100 flags: 99 static and one with a rule.
func benchFlags() string {
	var b strings.Builder
	b.WriteString(`{"flags": {"target": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
	  "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", {"fractional": [["on", 50], ["off", 50]]}]}}`)
	for i := range 99 {
		fmt.Fprintf(&b, `, "f%02d": {"state": "ENABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}`, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

// BenchmarkHandler measures evaluations over loopback HTTP (one flag, and
// a bulk of 100 flags) beside the in-process evaluation of the same flag.
func BenchmarkHandler(b *testing.B) {
	p, _, _ := newProvider(b, benchFlags())
	_, srv := newHandler(b, p)
	body := []byte(`{"context": {"targetingKey": "user-42", "plan": "free"}}`)
	post := func(b *testing.B, path string, wantFlags int) {
		client := srv.Client()
		client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(srv.URL+path, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || bytes.Count(got, []byte(`"key"`)) != wantFlags {
					b.Errorf("%d %s %v", resp.StatusCode, got, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("http-single", func(b *testing.B) { post(b, "/ofrep/v1/evaluate/flags/target", 1) })
	b.Run("http-bulk100", func(b *testing.B) { post(b, bulkPath, 100) })
	b.Run("in-process", func(b *testing.B) {
		flat := openfeature.FlattenedContext{"targetingKey": "user-42", "plan": "free"}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if d := p.Evaluate(ctx, "target", flat); d.Error() != nil {
					b.Error(d.Error())
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}

// BenchmarkBulkNotModified is a bulk revalidation answered 304 from the
// revision, without evaluating.
func BenchmarkBulkNotModified(b *testing.B) {
	p, src, _ := newProvider(b, benchFlags())
	set, err := parse(benchFlags())
	require.NoError(b, err)
	require.NoError(b, src.Replace(context.Background(), set.WithRevision(9)))
	h, err := ofrep.NewHandler(p)
	require.NoError(b, err)
	srv := serve(b, h)
	body := `{"context": {"targetingKey": "user-42"}}`
	resp, err := srv.Client().Post(srv.URL+bulkPath, "application/json", strings.NewReader(body))
	require.NoError(b, err)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+bulkPath, strings.NewReader(body))
		req.Header.Set("If-None-Match", etag)
		resp, err := srv.Client().Do(req)
		if err != nil || resp.StatusCode != http.StatusNotModified {
			b.Fatal(resp.StatusCode, err)
		}
		resp.Body.Close()
	}
}
