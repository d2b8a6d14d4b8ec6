package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/open-feature/go-sdk/openfeature/isolated"
	_ "modernc.org/sqlite" // the service chooses its driver; rollsafe imports none

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
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

	db, err := openDB(cfg.dbPath, tmp, logger)
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
	runner, err := migrate.New(db, dialect.SQLite, migrations, migrate.WithLogger(logger))
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

	// Flags: the guarded endpoint follows flags.json, and falls back to the old
	// implementation by itself when the new one fails.
	flagsPath, err := flagsFile(cfg.flagsPath, tmp)
	if err != nil {
		return err
	}
	source, err := flags.NewFileSource(flagsPath, flags.WithFileLogger(logger))
	if err != nil {
		return err
	}
	logger.Info("watching flag file", "file", source.Path())
	provider, err := flags.NewProvider(source, flags.WithLogger(logger))
	if err != nil {
		return err
	}
	api := isolated.NewAPI() // a real service may use the global openfeature API
	defer api.Shutdown(context.Background())
	hook, err := flags.NewTelemetryHook() // feature_flag.* span events and an evaluation counter
	if err != nil {
		return err
	}
	api.AddHooks(hook)
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		return fmt.Errorf("flags %s: %w", source.Path(), err)
	}
	summary, err := flags.NewSwitch[[]customerSummary](api.NewClient(), "orders-summary-v2",
		flags.WithSwitchLogger(logger), flags.WithMinCalls(5), flags.WithCoolDown(10*time.Second))
	if err != nil {
		return err
	}

	app := &orders{db: db, summary: summary, demoFaults: cfg.demoFaults}
	if cfg.demoFaults {
		logger.Warn("demonstration faults on: GET /summary?fail=new makes the new implementation fail")
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
	} {
		if err := checker.Register(c.name, c.fn, c.opts...); err != nil {
			return err
		}
	}
	if err := checker.Start(ctx); err != nil {
		return err
	}

	mux := http.NewServeMux()
	checker.Mount(mux)
	mux.Handle("GET "+version.DefaultPath, manifestHandler)
	app.routes(mux)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
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

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	checker.Drain()
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

func shutdown(srv *http.Server, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("shutdown", "err", err)
	}
}

func openDB(path, tmp string, logger *slog.Logger) (*sql.DB, error) {
	if path == "" {
		path = filepath.Join(tmp, "orders.db")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	logger.Info("database opened", "file", path)
	return db, nil
}

// flagsFile returns the flag file to watch: the one given, else the example's
// own flags.json beside its source, wherever the service is started from, so
// that editing it switches the running demo; else (a binary built with
// -trimpath or moved away from the source) a copy of it in tmp. A real
// service takes the path from its configuration.
func flagsFile(given, tmp string) (string, error) {
	if given != "" {
		return given, nil
	}
	if _, source, _, ok := runtime.Caller(0); ok && filepath.IsAbs(source) {
		beside := filepath.Join(filepath.Dir(source), "flags.json")
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	path := filepath.Join(tmp, "flags.json")
	return path, os.WriteFile(path, defaultFlags, 0o644)
}
