// Package fleet keeps the list of a service fleet's running instances in the
// service's own database: who is running, at which address, with which
// manifest and release, whether each is ready, and which flag-set revision
// each serves. That is how a drill learns that every instance has switched,
// and how a release learns which versions run before it widens.
//
// # Registry and membership
//
// [NewRegistry] takes the caller's *sql.DB and its [dialect.Dialect] (SQLite,
// PostgreSQL or MySQL/MariaDB; the zero Dialect is refused). Each instance
// joins ([Registry.Join]) with its base URL and [version.Manifest]; the
// returned [Membership] heartbeats on a goroutine until
// [Membership.Leave]. An entry without a heartbeat for the TTL
// ([WithTTL], default 30 s) is stale: [Registry.List] leaves it out and
// [Registry.Prune] deletes it. A heartbeat that finds its entry pruned (after
// a long pause) registers it again.
//
// # What a heartbeat carries
//
// Besides "alive now", each heartbeat carries a [Status]: readiness (a bool
// and an optional detail, such as the failing check's error) and the
// flag-set revision the instance serves (nil until it reports one). Set them
// with [Membership.SetReady] and [Membership.SetFlagsRevision]; the next
// heartbeat sends them, or [Membership.Heartbeat] sends them at once. An
// instance reads as not ready until it says otherwise. The release id is the
// manifest's.
//
// # Discovery
//
// A Registry is a [version.Discovery]: pass it to [version.Startup] and the
// start-up negotiation and the monitor's rounds use the manifests stored in
// the table (no fetch), leaving out the instances this Registry value
// registered itself.
//
// # The table
//
// The table (default rollsafe_instances, [WithTableName]) is created with
// CREATE TABLE IF NOT EXISTS:
//
//	id VARCHAR(64) PRIMARY KEY, service VARCHAR(128), version VARCHAR(256),
//	address VARCHAR(2048), manifest TEXT (MEDIUMTEXT on MySQL),
//	registered_at BIGINT, last_seen BIGINT,
//	release_id VARCHAR(256) DEFAULT '', ready SMALLINT DEFAULT 0,
//	ready_detail VARCHAR(1024) DEFAULT '', flags_revision BIGINT NULL
//
// A table created by an earlier release (which had the first seven columns
// only) gets the others added with ALTER TABLE ... ADD COLUMN when an
// instance of this release starts; instances starting together may all try,
// and a column another added first is not an error. Nothing is dropped, and
// since every added column has a default, instances of the earlier release
// keep working beside the new ones. Rows they write read as not ready, with
// no flag-set revision, and with the release id of their manifest.
//
// # Time
//
// Times are stored as Unix milliseconds from the registry's clock
// ([WithClock], default time.Now), so every instance should share a
// reasonably synced clock. The heartbeat timer ([WithHeartbeat], default a
// third of the TTL) runs on the runtime clock; tests drive it inside
// testing/synctest bubbles.
package fleet
