// Package pglisten tells a PostgreSQL [flagstore.Store] of every change at
// once, with LISTEN: a [Listener] is the store's [flagstore.Notifier].
//
//	l, err := pglisten.New(os.Getenv("DATABASE_URL"))
//	store, err := flagstore.New(db, dialect.Postgres, flagstore.WithNotifier(l))
//
// Every write to the store sends NOTIFY rollsafe_flags with the new revision,
// inside its transaction; the Listener hears it the moment the writer
// commits and wakes the store's watch, which reads the change. A slow safety
// poll (5 s) goes on beside it, for the notifications that a broken
// connection loses.
//
// # Connections
//
// Each call of [Listener.Listen] (one per watching store) holds one
// connection of its own, outside the service's *sql.DB pool: a listening
// connection can serve nothing else, and a pool would hand it back to
// others. Count one connection per instance against max_connections. The
// connection's application_name is "rollsafe-pglisten" unless the
// connection string sets one, so that an operator can find it in
// pg_stat_activity.
//
// When the connection is lost (the server restarted, the backend
// terminated, the network cut), the Listener logs it, waits the reconnect
// delay ([WithReconnectDelay], 1 s by default) and connects again, for as
// long as it listens. Each time it starts listening it asks the store to
// read everything again, since what was notified meanwhile is lost. A
// connection that dies silently (no reset reaches this host) is noticed by
// TCP keep-alive, in about two and a half minutes with Go's defaults; the
// safety poll keeps the store current meanwhile.
//
// This is the only package of rollsafe that imports pgx: services on MySQL
// or SQLite never link it.
package pglisten
