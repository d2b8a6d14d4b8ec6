// Package health answers "is this instance fit to take traffic, and what is
// it running?" for load balancers, orchestrators and release tooling.
//
// A [Checker] holds named checks. A check is a func(context.Context) error
// (or, with [Checker.RegisterMeasured], one that also reports an observed
// value and unit). The Checker serves them over HTTP in the IETF
// application/health+json format (draft-inadarei-api-health-check-06) and to
// Go callers through [Checker.Check].
//
// # Endpoints
//
// Three reports, one per [Kind]:
//
//   - /livez ([Liveness]): the process itself. No dependency checks take
//     part unless registered with [LivenessAndReadiness] (served at both
//     /livez and /readyz) or [LivenessOnly] (served at /livez instead of
//     /readyz); with none it passes.
//   - /readyz ([Readiness]): the dependencies (every check by default) and
//     draining.
//   - /healthz ([All]): every check and draining.
//
// There are two ways to serve them, for two kinds of router. [Checker.Mount]
// puts the three at those paths on an [http.ServeMux] or any router with the
// same Handle method: what most services want. [Checker.Handler] returns the
// handler of one report, for a router with another signature, other paths,
// or a port that serves readiness alone.
//
// pass and warn answer 200, fail answers 503, always with "Cache-Control:
// no-store". ?verbose answers in plain text, a line per check as Kubernetes
// does; ?exclude=NAME leaves a check out.
//
// # Running checks
//
// A check's ctx is cancelled at its timeout ([WithTimeout], default
// [DefaultTimeout]), and the probe gets a failure at that moment even if the
// check ignores its ctx. A check has at most one run in flight: probes that
// arrive while it runs share that run, and while a run hangs past its timeout
// they get the timeout result at once instead of starting another. With
// [WithCacheTTL] a result is reused for the TTL; with [WithInterval] the check
// runs in the background between [Checker.Start] and [Checker.Close] and
// probes never wait. A check that panics fails with [ErrPanic]; the process
// carries on.
//
// [Checker.Close] cancels every run in flight and returns once each has
// ended, as httptest.Server.Close does for its handlers: nothing the Checker
// started outlives it. The one exception is a check that ignores its ctx,
// which no one can stop: Close waits for it at most its timeout, then leaves
// that goroutine behind and logs a warning.
//
// A failing check fails the report unless registered with [NonCritical]: then
// it warns, and the instance keeps taking traffic. Register a dependency the
// service cannot work without as critical; register one with a fallback (a
// tripped circuit breaker whose old code path serves) as non-critical.
//
// # Details and authorization
//
// Error texts, outputs, observed values and component fields are shown only
// to callers the [WithAuthorizer] func admits. Everyone else sees the overall
// status and each check's name and status, with the reason withheld. By
// default nobody is admitted.
//
// # Draining
//
// [Checker.Drain] makes readiness fail at once, with a "draining" entry,
// while liveness keeps passing: call it when shutdown begins, wait for the
// load balancer to notice, then stop the server.
//
// # Telemetry
//
// [Checker.OnStatusChange] reports each change of a check's status and of
// the overall status; [Checker.Latest] reads the latest results without
// running any check. The duration of every run and the latest status of
// every check are recorded as OpenTelemetry metrics ([MetricCheckDuration],
// [MetricCheckStatus]) through the global meter provider unless
// [WithMeterProvider] names another.
//
// The grpchealth sub-package serves the same checks as grpc.health.v1, so
// that only services that want gRPC import it.
package health
