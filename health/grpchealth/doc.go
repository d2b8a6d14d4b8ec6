// Package grpchealth serves a [health.Checker] as the standard gRPC health
// service (grpc.health.v1: Check, List and Watch), so that gRPC load
// balancers and orchestrators probe the same checks as the HTTP endpoints.
// It lives apart from package health so that services without gRPC never
// import it.
//
// # Services
//
// The service "" is the instance's readiness, NOT_SERVING while the Checker
// drains. Every registered check is also a service of its own name.
//
// # Watch
//
// A Watch stream sends the status at once and again whenever it changes:
// the Checker announces changes of check results and of draining, and the
// stream also re-evaluates every poll interval ([WithPollInterval]) so that
// it sees on-demand checks that nothing else has run.
package grpchealth
