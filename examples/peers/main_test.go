package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

// started is a service running in-process on a random 127.0.0.1 port.
type started struct {
	url  string
	stop func() error
}

// start runs the service with args until the test ends (or stop), and
// returns its base URL. The listener exists before serve runs, so the URL
// answers as soon as start returns.
func start(t *testing.T, args ...string) started {
	t.Helper()
	c, err := parseConfig(args, io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, ln, io.Discard) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return started{url: "http://" + ln.Addr().String() + "/", stop: stop}
}

// tryStart runs the service with args and returns the error that stopped it
// from starting; it fails the test if the service started instead.
func tryStart(t *testing.T, args ...string) error {
	t.Helper()
	c, err := parseConfig(args, io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var out bytes.Buffer
	err = serve(context.Background(), c, ln, &out)
	require.Error(t, err, "the service started: %s", out.String())
	assert.Empty(t, out.String(), "a refused service never announces itself")
	return err
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestIncompatiblePairIsRefused(t *testing.T) {
	payments := start(t, "--service", "payments", "--version", "1.4.0")

	err := tryStart(t, "--service", "orders", "--version", "2.0.0", "--requires", "payments=^2", "--peer", payments.url)
	require.ErrorIs(t, err, version.ErrIncompatible)
	assert.ErrorContains(t, err, `orders 2.0.0 will not start`)
	assert.ErrorContains(t, err, `orders 2.0.0 requires payments "^2" but found 1.4.0`)

	// The other direction: payments 2 that wants orders 3 refuses orders 2.
	fussy := start(t, "--service", "payments", "--version", "2.1.0", "--requires", "orders=>=3.0.0")
	err = tryStart(t, "--service", "orders", "--version", "2.0.0", "--requires", "payments=^2", "--peer", fussy.url)
	assert.ErrorContains(t, err, `payments 2.1.0 requires orders ">=3.0.0" but we are 2.0.0`)
}

func TestCompatiblePairStarts(t *testing.T) {
	payments := start(t, "--service", "payments", "--version", "2.1.0", "--requires", "orders=^2")
	orders := start(t, "--service", "orders", "--version", "2.0.0", "--requires", "payments=^2",
		"--peer", payments.url)

	code, body := get(t, orders.url+strings.TrimPrefix(version.DefaultPath, "/"))
	require.Equal(t, http.StatusOK, code)
	m, err := version.ParseManifest([]byte(body))
	require.NoError(t, err)
	assert.Equal(t, version.Manifest{Service: "orders", Version: "2.0.0", Requires: map[string]string{"payments": "^2"}}, m)

	code, body = get(t, orders.url+"readyz")
	assert.Equal(t, http.StatusOK, code, body)
	require.NoError(t, orders.stop())
	require.NoError(t, payments.stop())
}

// The manifests the CI templates check start together, as files.
func TestManifestFilesStartTogether(t *testing.T) {
	payments := start(t, "--manifest", "manifests/payments.json")
	orders := start(t, "--manifest", "manifests/orders.json", "--peer", payments.url)
	code, _ := get(t, orders.url+"readyz")
	assert.Equal(t, http.StatusOK, code)
	_, err := parseConfig([]string{"--manifest", "manifests/orders.json", "--version", "1.0.0"}, io.Discard)
	assert.ErrorContains(t, err, "--manifest excludes")
}

func TestWarnPolicyStartsAnyway(t *testing.T) {
	payments := start(t, "--service", "payments", "--version", "1.4.0")
	orders := start(t, "--service", "orders", "--version", "2.0.0", "--requires", "payments=^2",
		"--peer", payments.url, "--policy", "warn")
	code, _ := get(t, orders.url+"readyz")
	assert.Equal(t, http.StatusOK, code)
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--service", "orders"}, "--version is required"},
		{[]string{"--service", "orders", "--version", "2"}, `manifest field "version": "2"`},
		{[]string{"--version", "1.0.0"}, `manifest field "service": "" is missing`},
		{[]string{"--service", "orders", "--version", "1.0.0", "--requires", "payments"}, `"payments" is not NAME=CONSTRAINT`},
		{[]string{"--service", "orders", "--version", "1.0.0", "--policy", "maybe"}, `unknown policy "maybe"`},
		{[]string{"--service", "orders", "--version", "1.0.0", "extra"}, "unexpected arguments"},
		{[]string{"--manifest", "manifests/nope.json"}, "no such file"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, io.Discard, io.Discard)
		assert.ErrorContains(t, err, tt.wantErr, tt.args)
	}
}
