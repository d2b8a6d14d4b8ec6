package grpchealth_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/rollsafe/rollsafe/health"
	"github.com/rollsafe/rollsafe/health/grpchealth"
)

// fixture is a Checker with a switchable "db" check and a non-critical
// "cache" check that always fails, served over a real gRPC server.
type fixture struct {
	checker *health.Checker
	dbDown  *atomic.Bool
	client  healthpb.HealthClient
}

func start(t *testing.T, opts ...grpchealth.Option) *fixture {
	t.Helper()
	c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	var dbDown atomic.Bool
	require.NoError(t, c.Register("db", func(context.Context) error {
		if dbDown.Load() {
			return errors.New("db down")
		}
		return nil
	}))
	require.NoError(t, c.Register("cache", func(context.Context) error { return errors.New("cache down") }, health.NonCritical()))

	return &fixture{checker: c, dbDown: &dbDown, client: serve(t, c, opts...)}
}

// serve serves c over a real gRPC server on 127.0.0.1 until the test ends,
// and closes c then.
func serve(t *testing.T, c *health.Checker, opts ...grpchealth.Option) healthpb.HealthClient {
	t.Helper()
	srv, err := grpchealth.New(c, opts...)
	require.NoError(t, err)
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		gs.Stop()
		require.NoError(t, <-served)
		require.NoError(t, c.Close())
	})
	return healthpb.NewHealthClient(conn)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		service  string
		dbDown   bool
		drain    bool
		want     healthpb.HealthCheckResponse_ServingStatus
		wantCode codes.Code
	}{
		{name: "overall serving", service: "", want: healthpb.HealthCheckResponse_SERVING},
		{name: "overall with a critical failure", service: "", dbDown: true, want: healthpb.HealthCheckResponse_NOT_SERVING},
		{name: "overall while draining", service: "", drain: true, want: healthpb.HealthCheckResponse_NOT_SERVING},
		{name: "check serving", service: "db", want: healthpb.HealthCheckResponse_SERVING},
		{name: "check failing", service: "db", dbDown: true, want: healthpb.HealthCheckResponse_NOT_SERVING},
		{name: "non-critical failing check warns and serves", service: "cache", want: healthpb.HealthCheckResponse_SERVING},
		{name: "check while draining", service: "db", drain: true, want: healthpb.HealthCheckResponse_NOT_SERVING},
		{name: "unknown service", service: "nope", wantCode: codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t)
			f.dbDown.Store(tt.dbDown)
			if tt.drain {
				f.checker.Drain()
			}
			resp, err := f.client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: tt.service})
			if tt.wantCode != codes.OK {
				require.Error(t, err)
				assert.Equal(t, tt.wantCode, status.Code(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, resp.GetStatus())
		})
	}
}

func TestList(t *testing.T) {
	f := start(t)
	f.dbDown.Store(true)
	resp, err := f.client.List(t.Context(), &healthpb.HealthListRequest{})
	require.NoError(t, err)
	got := map[string]healthpb.HealthCheckResponse_ServingStatus{}
	for name, st := range resp.GetStatuses() {
		got[name] = st.GetStatus()
	}
	assert.Equal(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"":      healthpb.HealthCheckResponse_NOT_SERVING,
		"db":    healthpb.HealthCheckResponse_NOT_SERVING,
		"cache": healthpb.HealthCheckResponse_SERVING,
	}, got)
}

func recv(t *testing.T, stream healthpb.Health_WatchClient) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := stream.Recv()
	require.NoError(t, err)
	return resp.GetStatus()
}

func TestWatch(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Registered first, so it runs after the fixture's cleanup has stopped
	// the server: the streams' goroutines are gone.
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	// A poll interval of an hour: every update below comes from the Checker
	// announcing a change.
	f := start(t, grpchealth.WithPollInterval(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	overall, err := f.client.Watch(ctx, &healthpb.HealthCheckRequest{Service: ""})
	require.NoError(t, err)
	db, err := f.client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "db"})
	require.NoError(t, err)
	unknown, err := f.client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	require.NoError(t, err)

	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, overall))
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, db))
	assert.Equal(t, healthpb.HealthCheckResponse_SERVICE_UNKNOWN, recv(t, unknown))

	f.checker.Drain()
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, recv(t, overall))
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, recv(t, db))
	f.checker.Undrain()
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, overall))
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, db))

	// The db check starts failing; an HTTP probe (here a Go call) runs it.
	f.dbDown.Store(true)
	f.checker.Check(t.Context(), health.Readiness)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, recv(t, overall))
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, recv(t, db))
	f.dbDown.Store(false)
	f.checker.Check(t.Context(), health.Readiness)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, overall))
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, db))

	cancel()
	_, err = overall.Recv()
	assert.Equal(t, codes.Canceled, status.Code(err))
}

func TestWatchPolls(t *testing.T) {
	// Nothing announces the change: the stream's own poll finds it.
	f := start(t, grpchealth.WithPollInterval(10*time.Millisecond))
	stream, err := f.client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "db"})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, recv(t, stream))
	f.dbDown.Store(true)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, recv(t, stream))
}

func TestNewRefusesBadInput(t *testing.T) {
	_, err := grpchealth.New(nil)
	require.ErrorIs(t, err, grpchealth.ErrNilChecker)

	c, err := health.New()
	require.NoError(t, err)
	defer c.Close()
	_, err = grpchealth.New(c, grpchealth.WithPollInterval(0))
	require.ErrorIs(t, err, grpchealth.ErrInvalidOption)
	assert.ErrorContains(t, err, "poll interval 0s")
	_, err = grpchealth.New(c, nil)
	require.ErrorIs(t, err, grpchealth.ErrInvalidOption)
}

func TestWatchDoesNotRunFlappingCheck(t *testing.T) {
	// A check whose status flips at each run announces a change at each run.
	// A stream that answered changes by running checks would run it in a loop.
	c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	var runs atomic.Int32
	require.NoError(t, c.Register("flappy", func(context.Context) error {
		if runs.Add(1)%2 == 0 {
			return errors.New("down")
		}
		return nil
	}))
	client := serve(t, c, grpchealth.WithPollInterval(time.Hour))

	for _, service := range []string{"", "flappy"} {
		t.Run("service "+service, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			before := runs.Load()
			stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
			require.NoError(t, err)
			first := recv(t, stream)
			// The stream ran the check once; each run below is the test's own.
			for i := range 4 {
				c.Check(t.Context(), health.Readiness)
				want := healthpb.HealthCheckResponse_SERVING
				if runs.Load()%2 == 0 {
					want = healthpb.HealthCheckResponse_NOT_SERVING
				}
				require.NotEqual(t, first, want, "run %d", i)
				assert.Equal(t, want, recv(t, stream), "run %d", i)
				first = want
			}
			assert.Equal(t, before+5, runs.Load(), "the stream ran the check on changes")
		})
	}
}
