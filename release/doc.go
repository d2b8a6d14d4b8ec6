// Package release moves a service forward in steps and back by itself:
// progressive delivery driven from inside the services, with its state in
// the service's own database. It is the one package that knows flags,
// migrations, versions and health at once.
//
// # The plan
//
// A [Plan] is data — a JSON or YAML file ([ParsePlan], [ParsePlanFile]) or
// a Go value ([Plan.Validate]): the release's id, the flags it moves and,
// for each, its baseline (the variant that is the old code path) and its
// canary (the new one); the steps, each with the canary's share of traffic
// per flag, a minimum bake time and a minimum of samples per arm; the
// analysis that judges each step; the schema floor (the lowest migration
// version the previous release runs on); the semver constraint every live
// instance must meet before the first step; the steps that wait for a
// person's promote and who may give it; webhook gates. [Plan.Runbook]
// writes the plan's runbook in Markdown: the steps, what is watched, and
// the exact commands that roll it back by hand.
//
// # The controller
//
// Every instance runs a [Controller] ([NewController], then
// [Controller.Run] in a goroutine of its own). One of them holds a lease
// in the database and drives: it writes each step's weights into the flag
// store (one change for every flag of the plan, the release id on it),
// measures, judges, holds, pauses or rolls back. When it dies, another
// takes the lease within [DefaultLease] and goes on from the stored state:
// nothing a driver knows is kept only in memory. Any instance's Controller
// — or the CLI, or the admin handler — may [Controller.Start],
// [Controller.Promote], [Controller.Pause], [Controller.Resume] and
// [Controller.Abort] a release; two releases of one flag at once are
// refused ([FlagInUseError]).
//
// Each instance's [Recorder] writes, every second, what its
// [flags.Switch]es counted for the flags of running releases — calls,
// errors and a latency histogram per arm (canary: the new path; baseline:
// the old) — into rollsafe_release_samples, as deltas keyed by instance
// and interval, so that a retried write or a restarted instance never
// counts a call twice. The driver sums the samples of every instance over
// the same window for both arms: canary and baseline are judged on the
// same traffic, at the same time.
//
// Every transition, measurement and decision is an [Event] in
// rollsafe_release_events, append-only ([Controller.History]); each step
// is an OpenTelemetry span whose events are the driver's decisions.
//
// # The analysis
//
// See [MeasureErrorRate], [MeasureLatency], [MeasurePrometheus] and
// [Judge]. Measurements have the phases of Argo Rollouts (Successful,
// Failed, Inconclusive, Error) and its limits (failureLimit,
// inconclusiveLimit, consecutiveErrorLimit), with two lessons from its
// issue tracker: no data is never success — too few samples in either arm
// is Inconclusive and holds the step, up to the plan's stepTimeout — and
// the verdict of a release is a function of its stored measurements
// alone, so that every instance, and every person reading the ledger,
// reaches the same one.
//
// # Rollback
//
// A failed verdict, an error verdict (the release can no longer be
// measured), a failing webhook gate or a person's [Controller.Abort] sets
// every flag of the plan back to its baseline in one change of the flag
// store — one revision, one NOTIFY, one ledger entry — without walking
// back through the steps. RolledBack is terminal; Start the release again
// to retry. The schema is never rolled back by the controller:
// [RollbackSchema] (rollsafe release rollback --schema) takes it down to
// the plan's floor at most, stops at a migration marked irreversible and
// says what it left in place.
//
// # Surfaces
//
// [NewHandler] serves the releases over HTTP behind an authorizer;
// [NewStatusHandler] serves the read-only part without one. The CLI's
// rollsafe release validate, start, status (--watch), promote, pause,
// resume, abort, history, runbook and rollback are thin commands over
// this package.
//
// [NewPage] is a web page over a Controller and a flag store, to mount on
// any mux ([Page.Mount]): the current release with its steps, weights,
// measurements, verdict and charts, the past ones, every flag with its
// split and audit trail, every live instance with the flag revision it
// serves. It updates live over server-sent events, and offers the
// actions (promote, pause, resume, abort; kill, revive, set weights) its
// authorizers allow, each asking for a reason. It is embedded whole (no
// build step, no CDN), every response carries a strict
// Content-Security-Policy ([PageCSP]) and every write a CSRF token; a
// caller an authorizer refuses sees nothing of what it guards. rollsafe
// serve serves it for a whole fleet from outside the services.
package release
