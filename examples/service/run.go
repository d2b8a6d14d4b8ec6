package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/health"
	"github.com/rollsafe/rollsafe/migrate"
	"github.com/rollsafe/rollsafe/version"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

//go:embed flags.json
var defaultFlags []byte

// manifest is what this build is and what it needs. A real service sets
// Version at link time or leaves it empty to take it from the build info.
var manifest = version.Manifest{
	Service: "orders",
	Version: "1.4.0",
	Schema:  ">=3",
}

// run starts the service and blocks until ctx ends, then drains and shuts
// down. When started is not nil it receives the listening address once the
// server accepts connections.
func run(ctx context.Context, args []string, logger *slog.Logger, started chan<- string) error {
	cfg, err := parseConfig(args, os.Stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "rollsafe-service-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	db, err := openDB(ctx, cfg, tmp, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	// Migrations: applied below, under the database lock, so that several
	// instances starting together migrate once.
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	runner, err := migrate.New(db, cfg.dialect, migrations, migrate.WithLogger(logger))
	if err != nil {
		return err
	}

	// Version: refuse to start beside incompatible peers; serve our manifest.
	self, err := version.Resolve(manifest)
	if err != nil {
		return err
	}
	monitor, err := version.Startup(ctx, self, version.Static(cfg.peers), version.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	defer monitor.Close()
	manifestHandler, err := version.NewHandler(self)
	if err != nil {
		return err
	}
	schemaCheck, err := version.SchemaCheck(self, runner.Version)
	if err != nil {
		return err
	}

	// The address is known once listening: the fleet registry needs it.
	// Connections wait in the backlog until the server starts below.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	// Fleet: the instance's entry in the registry, which carries its
	// readiness and the revision of the flags it serves, for
	// `rollsafe flags kill --wait` and for releases.
	registry, err := fleet.NewRegistry(ctx, db, cfg.dialect, fleet.WithLogger(logger))
	if err != nil {
		return err
	}
	member, err := registry.Join(ctx, "http://"+ln.Addr().String(), self)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := member.Leave(ctx); err != nil {
			logger.Error("leaving the fleet registry", "err", err)
		}
	}()

	// Flags: the guarded endpoint follows the flag store (or --flags), and
	// falls back to the old implementation by itself when the new one fails.
	source, sourceName, err := flagSource(ctx, cfg, db, logger)
	if err != nil {
		return err
	}
	provider, err := flags.NewProvider(source, flags.WithLogger(logger),
		flags.WithRevisionListener(member.SetFlagsRevision))
	if err != nil {
		return err
	}
	metrics, err := newMetrics(self.Service) // GET /metrics, for Prometheus
	if err != nil {
		return err
	}
	defer metrics.close()
	api := isolated.NewAPI() // a real service may use the global openfeature API
	defer api.Shutdown(context.Background())
	hook, err := flags.NewTelemetryHook(metrics.hookOption()) // feature_flag.* span events and an evaluation counter
	if err != nil {
		return err
	}
	api.AddHooks(hook)
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		return fmt.Errorf("flags from the %s: %w", sourceName, err)
	}
	summary, err := flags.NewSwitch[[]customerSummary](api.NewClient(), "orders-summary-v2",
		flags.WithSwitchLogger(logger), metrics.switchOption(), flags.WithMinCalls(5), flags.WithCoolDown(10*time.Second))
	if err != nil {
		return err
	}
	create, err := flags.NewSwitch[stored](api.NewClient(), "orders-create-v2",
		flags.WithSwitchLogger(logger), metrics.switchOption(), flags.WithMinCalls(5), flags.WithCoolDown(10*time.Second))
	if err != nil {
		return err
	}

	// Releases: the instance records what the Switches count for the
	// analysis, and drives the releases while it holds the lease.
	rel, err := startReleases(cfg, db, source, registry, member, logger, summary, create)
	if err != nil {
		return err
	}
	defer rel.stop()

	app := &orders{db: db, dialect: cfg.dialect, summary: summary, create: create,
		fault: cfg.demoFault, demoFaults: cfg.demoFaults}
	if cfg.demoFaults {
		logger.Warn("demonstration faults on: GET /summary?fail=new makes the new implementation fail")
	}
	if cfg.demoFault.kind != "none" {
		logger.Warn("demonstration fault in the new implementations", "fault", cfg.demoFault.String())
	}

	// Health: the database and the schema are critical; a tripped Switch only
	// warns, since the old path is serving.
	checker, err := health.New(health.WithServiceID(self.Service), health.WithVersion(self.Version),
		health.WithReleaseID(self.ReleaseID), health.WithDescription("orders service"), health.WithLogger(logger),
		// Error texts and observed values only for callers on this host; the
		// rest see each check's status with the reason withheld.
		health.WithAuthorizer(func(r *http.Request) bool {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			return err == nil && net.ParseIP(host).IsLoopback()
		}))
	if err != nil {
		return err
	}
	defer checker.Close()
	for _, c := range []struct {
		name string
		fn   func(context.Context) error
		opts []health.CheckOption
	}{
		{"database", health.DBPing(db), []health.CheckOption{health.WithComponentType("datastore"), health.WithCacheTTL(time.Second)}},
		{"migrations", runner.Ready, []health.CheckOption{health.WithComponentType("datastore")}},
		{"startup", app.started, []health.CheckOption{health.WithComponentType("component")}},
		{"schema", schemaCheck, []health.CheckOption{health.WithComponentType("datastore"), health.WithCacheTTL(time.Second)}},
		{"peers", monitor.Check, []health.CheckOption{health.WithComponentType("system")}},
		{"orders-summary-v2", summary.Healthy, []health.CheckOption{health.NonCritical(), health.WithComponentType("component")}},
		{"orders-create-v2", create.Healthy, []health.CheckOption{health.NonCritical(), health.WithComponentType("component")}},
	} {
		if err := checker.Register(c.name, c.fn, c.opts...); err != nil {
			return err
		}
	}
	if err := checker.Start(ctx); err != nil {
		return err
	}

	// OFREP at /ofrep/: the same flags for services in other languages.
	ofrepH, ofrepRoutes, err := ofrepHandler(provider, api.NewClient(), logger)
	if err != nil {
		return err
	}
	defer ofrepH.Close()

	mux := http.NewServeMux()
	mux.Handle("/ofrep/", ofrepRoutes)
	checker.Mount(mux)
	metrics.mount(mux)
	if err := rel.mount(mux, os.Getenv(envAdminToken)); err != nil {
		return err
	}
	mux.Handle("GET "+version.DefaultPath, manifestHandler)
	app.routes(mux)

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Event streams never end by themselves: end them as the server shuts
	// down, or the graceful shutdown would wait for them.
	srv.RegisterOnShutdown(func() { _ = ofrepH.Close() })
	srv.RegisterOnShutdown(rel.closePage)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if started != nil {
		started <- ln.Addr().String()
	}

	// /readyz fails while migrations are pending; it passes once they are in.
	applied, err := runner.Up(ctx)
	if err != nil {
		shutdown(srv, logger)
		return fmt.Errorf("migrations: %w", err)
	}
	logger.Info("migrations applied", "count", len(applied))
	if err := app.seed(ctx); err != nil {
		shutdown(srv, logger)
		return err
	}
	app.ready.Store(true)
	member.SetReady(true, "")
	heartbeat(ctx, member, logger)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	checker.Drain()
	member.SetReady(false, "draining")
	heartbeat(context.Background(), member, logger)
	logger.Info("draining: readiness fails, still serving", "for", cfg.drainDelay)
	select {
	case <-time.After(cfg.drainDelay):
	case err := <-serveErr:
		return err
	}
	shutdown(srv, logger)
	logger.Info("stopped")
	return nil
}

// heartbeat tells the registry now what changed (readiness), rather than
// at the next heartbeat; a failure only delays it until then.
func heartbeat(ctx context.Context, member *fleet.Membership, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := member.Heartbeat(ctx); err != nil {
		logger.Warn("fleet heartbeat", "err", err)
	}
}

func shutdown(srv *http.Server, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("shutdown", "err", err)
	}
}
