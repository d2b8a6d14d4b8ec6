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
// A Watch stream sends the status at once and again whenever it changes.
// When the Checker announces a change of a check result or of draining, the
// stream reads the latest results ([health.Checker.Latest]) and runs
// nothing, so that a check whose status flips at each run is not run in a
// loop. Every poll interval ([WithPollInterval]) it runs the service's
// checks (or serves them from cache), so that it sees on-demand checks that
// nothing else runs.
package grpchealth
