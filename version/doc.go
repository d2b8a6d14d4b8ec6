// Package version decides whether a build may run beside the peers and on the
// database schema it finds, and refuses to start — with the reasons — when it
// may not.
//
// # Manifest
//
// Every build carries a [Manifest]: what it is and what it needs.
//
//	{"service": "orders", "version": "2.4.0",
//	 "requires": {"payments": ">=1.2.0 <2.0.0", "users": "^3"},
//	 "schema": ">=12 <=15", "releaseId": "r-2026-11-26.1", "apis": ["orders.v2"]}
//
// version is a strict semantic version (MAJOR.MINOR.PATCH, no "v"); requires
// maps a peer service to a constraint in github.com/Masterminds/semver/v3
// syntax; schema constrains the database's goose migration version, compared
// as N.0.0. A service that leaves Version empty gets the main module's
// version from the build info ([Resolve]): "v1.4.2" becomes "1.4.2",
// "(devel)" is refused with a request for an explicit version, and a
// pseudo-version (an untagged commit) becomes a prerelease — see below for
// what that costs. Errors name the field and its bad value ([FieldError]).
//
// # Negotiation
//
// A peer is compatible when both directions hold: our constraint on its
// service admits its version, and its constraint on our service admits ours.
// A peer that neither side constrains is compatible. [Negotiate] fetches all
// peers' manifests at once, each bounded by a timeout, and gives each a
// [Verdict]: [Compatible], [Incompatible] (with the constraint's reasons),
// [Unreachable] or [Invalid]; a required service that no peer answered for
// is [Missing]. A peer that hangs or answers garbage never crashes or stalls
// the negotiation.
//
// # Prereleases
//
// Constraints exclude prerelease versions (1.3.0-rc.1, and every Go
// pseudo-version) by default: a peer at 1.3.0-rc.1 does not meet ">=1.2.0",
// and a build of an untagged commit meets no peer's constraint on it. A
// constraint that itself names a prerelease (">=1.3.0-rc.0") admits them for
// that range. [WithPrereleases] admits them everywhere, with a trap: under
// it ">=1.2.0 <2.0.0" admits 2.0.0-rc.1, since 2.0.0-rc.1 sorts before 2.0.0.
// Bound with "<2.0.0-0" when opting in.
//
// # Policies and the start-up hook
//
// [Startup] is the one call in main: it discovers peers, negotiates, and
// applies a [Policy]. [Refuse] (the default) fails on any verdict but
// Compatible (and Missing only with [WithRequireAll]); [Warn] logs and goes
// on; [Quorum] fails only when a peer is known incompatible or a required
// service has no compatible peer, as etcd refuses to join a cluster it
// cannot agree with. A refusal is an [*IncompatibleError] whose message
// carries every reason; main prints it and exits non-zero. On success
// Startup returns a running [Monitor] that negotiates again every interval;
// its Check method is a readiness check (register it as critical) that fails
// when an incompatible peer has appeared since. [SchemaCheck] is a second
// readiness check: it refuses a database whose migration version is outside
// the manifest's schema range.
//
// # Serving and discovery
//
// [Handler] serves the manifest as JSON; mount it at [DefaultPath]
// (/.well-known/rollsafe). Peers are named by base URL (the path is appended)
// or by the manifest's full URL ([ManifestURL]). A [Discovery] finds them:
// [Static] URLs, [DNS] (SRV records, or A/AAAA records plus a port), a
// [DiscoveryFunc], or a fleet.Registry (package
// github.com/rollsafe/rollsafe/fleet), which lists the instances in the
// service's own database. The package itself uses no database.
//
// # Options
//
// Options are typed by the calls they apply to, and one that a call would
// ignore does not compile there: [FetchOption] ([WithTimeout],
// [WithHTTPClient], [WithPath]) applies to [Fetch] and everything that
// fetches; [NegotiateOption] adds [Negotiate]'s ([WithConcurrency],
// [WithPrereleases], telemetry); [CheckerOption] adds the policy's
// ([WithPolicy], [WithRequireAll], [WithLogger]) for [NewChecker];
// [MonitorOption] adds the monitor's ([WithInterval], [WithObserver]) for
// [NewMonitor] and [Startup]. So version.Fetch(ctx, url,
// version.WithPolicy(version.Refuse)) is a compile error, not a silently
// ignored policy.
//
// # Time
//
// Nothing in the package keeps timestamps: a fetch is bounded by a context
// deadline and a monitor's rounds by a ticker, both on the runtime clock.
// Tests of a monitor run inside testing/synctest bubbles, where hours pass in
// no time.
//
// # Outside input in messages
//
// Every value from a peer that reaches a reason, an error or a log line (a
// constraint, a bad field's value, a parser's message, an HTTP status) is
// cut to a few hundred bytes and marked with an ellipsis and its full length,
// so that a hostile or broken peer's megabyte manifest is never echoed whole.
//
// # Telemetry
//
// Each negotiation adds one to the counter rollsafe.version.peer.verdicts per
// peer, with attributes service and verdict, and records a span
// version.Negotiate with the counts, through the global OpenTelemetry
// providers unless [WithMeterProvider] or [WithTracerProvider] gives others.
package version
