package grpchealth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/rollsafe/rollsafe/health"
)

// DefaultPollInterval is how often a Watch re-evaluates its service when
// nothing has announced a change.
const DefaultPollInterval = 5 * time.Second

var (
	// ErrNilChecker is returned by [New] without a Checker.
	ErrNilChecker = errors.New("grpchealth: nil checker")
	// ErrInvalidOption is returned by [New] for an option given a value it refuses.
	ErrInvalidOption = errors.New("grpchealth: invalid option")
)

// Server serves a [health.Checker] as the grpc.health.v1 Health service.
// Register it with grpc_health_v1.RegisterHealthServer.
//
// The service "" is the instance's readiness: SERVING when readiness passes
// or warns, NOT_SERVING when it fails or the Checker drains. Any other
// service is the check of that name: SERVING unless it fails (a failing
// non-critical check warns and stays SERVING), and NOT_SERVING for every
// check while draining. Unknown services are NotFound for Check and
// SERVICE_UNKNOWN for Watch, as the protocol asks.
type Server struct {
	healthpb.UnimplementedHealthServer
	checker *health.Checker
	poll    time.Duration
}

var _ healthpb.HealthServer = (*Server)(nil)

// Option configures a [Server].
type Option func(*Server) error

// WithPollInterval sets how often each Watch stream re-evaluates its service
// besides when the Checker reports a status change. Each evaluation may run
// the service's checks (or serve them from cache). Default
// [DefaultPollInterval]; zero or negative durations are refused.
func WithPollInterval(d time.Duration) Option {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("%w: poll interval %s: want a positive duration", ErrInvalidOption, d)
		}
		s.poll = d
		return nil
	}
}

// New returns a Server over c. The Server starts no goroutine of its own:
// each Watch runs on the goroutine gRPC gives its stream and ends with it.
func New(c *health.Checker, opts ...Option) (*Server, error) {
	if c == nil {
		return nil, ErrNilChecker
	}
	s := &Server{checker: c, poll: DefaultPollInterval}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Check returns the status of the requested service, or NotFound.
func (s *Server) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st := s.status(ctx, req.GetService())
	if st == healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// List returns the status of "" and of every check.
func (s *Server) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	names := s.checker.Names(health.All)
	out := make(map[string]*healthpb.HealthCheckResponse, len(names)+1)
	out[""] = &healthpb.HealthCheckResponse{Status: s.status(ctx, "")}
	for _, name := range names {
		out[name] = &healthpb.HealthCheckResponse{Status: s.status(ctx, name)}
	}
	return &healthpb.HealthListResponse{Statuses: out}, nil
}

// Watch sends the status of the requested service at once, then each time
// it changes, until the client goes away.
func (s *Server) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx := stream.Context()
	changed := make(chan struct{}, 1)
	remove := s.checker.OnStatusChange(func(health.StatusChange) {
		select {
		case changed <- struct{}{}:
		default: // a re-evaluation is already due
		}
	})
	defer remove()
	tick := time.NewTicker(s.poll)
	defer tick.Stop()

	// A change is followed by reading the latest results: running checks
	// then would announce changes of their own, and a check whose status
	// flips at each run would be run in a loop. Runs happen at the start and
	// at each poll.
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	run := true
	for {
		if st := s.watched(ctx, req.GetService(), run); st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
			run = false
		case <-tick.C:
			run = true
		}
	}
}

// watched is the status of service from its latest results, or from a run
// when run is set or when a check has no result yet.
func (s *Server) watched(ctx context.Context, service string, run bool) healthpb.HealthCheckResponse_ServingStatus {
	if run {
		return s.status(ctx, service)
	}
	kind := health.All
	if service == "" {
		kind = health.Readiness
	}
	rep := s.checker.Latest(kind)
	for _, r := range rep.Checks {
		if errors.Is(r.Err, health.ErrNotRun) {
			return s.status(ctx, service) // registered since the last run
		}
	}
	if service == "" {
		return serving(rep.Status)
	}
	for _, r := range rep.Checks {
		if r.Name == service && service != health.DrainingCheck {
			return s.servingCheck(r)
		}
	}
	return healthpb.HealthCheckResponse_SERVICE_UNKNOWN
}

func (s *Server) status(ctx context.Context, service string) healthpb.HealthCheckResponse_ServingStatus {
	if service == "" {
		return serving(s.checker.Check(ctx, health.Readiness).Status)
	}
	res, err := s.checker.CheckOne(ctx, service)
	if err != nil {
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	}
	return s.servingCheck(res)
}

// servingCheck maps a check's result: NOT_SERVING when it fails or the Checker
// drains.
func (s *Server) servingCheck(res health.CheckResult) healthpb.HealthCheckResponse_ServingStatus {
	if s.checker.Draining() {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return serving(res.Status)
}

// serving maps a report's status: pass and warn serve.
func serving(st health.Status) healthpb.HealthCheckResponse_ServingStatus {
	if st == health.Fail {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return healthpb.HealthCheckResponse_SERVING
}
