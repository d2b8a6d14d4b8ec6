// Package rollsafe lets a service carry its own rollback behaviour: switch a
// feature off everywhere at once, know before deploying that the database can
// go back, refuse to start beside incompatible peers, and report whether an
// instance may take traffic. This package holds no code; the work is done by
// the packages below, which a service imports one by one.
//
// # Packages
//
//   - [github.com/rollsafe/rollsafe/health] answers "is this instance fit to take
//     traffic?": named checks with timeouts, caching and background runs, served
//     as /livez, /readyz and /healthz in the IETF application/health+json format,
//     with draining for graceful shutdown. Its grpchealth sub-package serves the
//     same checks as grpc.health.v1.
//   - [github.com/rollsafe/rollsafe/flags] answers "which code path runs for
//     this request, and how do we switch it off everywhere, now?": an
//     OpenFeature provider over flagd-format flag definitions, and a Switch
//     that guards a new code path with a circuit breaker that sends traffic
//     back to the old path by itself.
//   - [github.com/rollsafe/rollsafe/migrate] runs goose migrations forward and
//     back under a lock that several starting instances share;
//     [github.com/rollsafe/rollsafe/migrate/check] proves each migration
//     reversible (schema and data) and backward compatible before it ships.
//   - [github.com/rollsafe/rollsafe/version] answers "may this build run
//     beside the peers and the schema it finds?" with semver manifests
//     negotiated in both directions.
//   - [github.com/rollsafe/rollsafe/dialect] names the database families
//     (SQLite, PostgreSQL, MySQL/MariaDB) that every package talking SQL
//     takes beside the caller's *sql.DB.
//   - [github.com/rollsafe/rollsafe/fleet] keeps the instances of a service in
//     its own database: each heartbeats its address, manifest, release,
//     readiness and the flag-set revision it serves; a registry is a
//     version.Discovery of the others.
//
// # How they fit together
//
// The packages above but fleet are leaves: none imports another but
// dialect. Fleet parts (fleet) add the shared database or the network to one
// leaf and may import it. The leaves meet at plain function types. A readiness check is a func(context.Context) error, and
// flags.Switch, migrate.Runner and version (SchemaCheck, Monitor) each expose
// one, so a service registers them with health without health knowing about
// them. Whether a failing check fails readiness or only warns is chosen where
// it is registered.
//
// rollsafe uses the *sql.DB the service already has and never imports a SQL
// driver into a service: the service imports the driver it uses. Heavy
// dependencies (atlas and the scratch SQLite database of the migration checker,
// gRPC) live in the sub-packages that need them.
//
// The rollsafe command (cmd/rollsafe) runs the same checks in CI and for
// operators.
package rollsafe
