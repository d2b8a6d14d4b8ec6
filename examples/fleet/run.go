package main

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the command opens the fleet's database too
	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/release"
)

//go:embed release.yaml
var defaultPlan []byte

// actor is who the command's own writes are by, in the audit trails.
const actor = "examples/fleet"

// Timings of the run.
const (
	readyTimeout = 60 * time.Second       // for every instance to be ready
	pollEvery    = 250 * time.Millisecond // the release, the instances' health
	stopGrace    = 20 * time.Second       // from SIGTERM to SIGKILL
	chaosStep    = 2                      // --chaos kills the driver when the release reaches this step, at the latest
)

// run is the command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		fmt.Fprintln(stderr, "fleet:", err)
		return exitCantRun
	}
	plan, err := loadPlan(cfg.plan)
	if err != nil {
		fmt.Fprintln(stderr, "fleet:", err)
		return exitCantRun
	}
	r := &runner{cfg: cfg, plan: plan, out: stdout, errOut: stderr}
	defer r.close()
	if err := r.setUp(ctx); err != nil {
		fmt.Fprintln(stderr, "fleet:", err)
		return exitCantRun
	}
	rep, err := r.drive(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "fleet:", err)
		return exitCantRun
	}
	return r.finish(rep)
}

func loadPlan(path string) (*release.Plan, error) {
	if path == "" {
		return release.ParsePlan(defaultPlan)
	}
	return release.ParsePlanFile(path)
}

// runner holds a run's fleet and its view of the database.
type runner struct {
	cfg    config
	plan   *release.Plan
	out    io.Writer
	errOut io.Writer

	tmp      string // removed at the end
	logDir   string
	fleet    []*instance
	db       *sql.DB
	store    *flagstore.Store
	registry *fleet.Registry
	ctl      *release.Controller
	client   *http.Client
	ui       *uiServer // the page of --ui; nil without
}

// setUp builds and starts the fleet, opens its database and ships the
// plan's flags dark.
func (r *runner) setUp(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "rollsafe-fleet-")
	if err != nil {
		return err
	}
	r.tmp, r.logDir = tmp, tmp
	if r.cfg.logs != "" {
		if err := os.MkdirAll(r.cfg.logs, 0o755); err != nil {
			return fmt.Errorf("--logs: %w", err)
		}
		r.logDir = r.cfg.logs
	}
	r.client = &http.Client{Timeout: 5 * time.Second}

	bin := r.cfg.service
	if bin == "" {
		fmt.Fprintf(r.out, "building %s\n", servicePackage)
		if bin, err = buildService(ctx, tmp); err != nil {
			return err
		}
	}
	args := []string{"--drain-delay", "200ms", "--demo-fault", r.cfg.fault}
	var env []string
	var source string
	switch r.cfg.dialect {
	case dialect.SQLite:
		path := filepath.Join(tmp, "orders.db")
		args = append(args, "--db", path)
		source = "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
		fmt.Fprintf(r.out, "the database: SQLite file %s\n", path)
	case dialect.MySQL:
		mc, err := mysql.ParseDSN(r.cfg.dsn)
		if err != nil {
			return errors.New("--dsn: not a MySQL DSN (user:password@tcp(host:3306)/db)")
		}
		mc.ParseTime = true
		args = append(args, "--dialect", "mysql")
		env, source = []string{"ORDERS_DSN=" + r.cfg.dsn}, mc.FormatDSN()
	default:
		args = append(args, "--dialect", r.cfg.dialect.String())
		env, source = []string{"ORDERS_DSN=" + r.cfg.dsn}, r.cfg.dsn
	}

	// The database is opened, and pinged, before any instance is started:
	// on SQLite the ping makes the file and turns it to WAL, a change that
	// takes the file's exclusive lock without waiting for it, so instances
	// that each made the change at once could find the file locked.
	if r.db, err = sql.Open(r.cfg.dialect.Driver(), source); err != nil {
		return err
	}
	if err := r.db.PingContext(ctx); err != nil {
		return fmt.Errorf("database %s: %w", r.cfg.dialect, err)
	}

	fmt.Fprintf(r.out, "starting %d instances of examples/service on %s (fault in the new code: %s)\n",
		r.cfg.instances, r.cfg.dialect, r.cfg.fault)
	addrs, err := freeAddrs(r.cfg.instances)
	if err != nil {
		return err
	}
	for i, addr := range addrs {
		in, err := startInstance(bin, i+1, addr, args, env, r.logDir)
		if err != nil {
			return err
		}
		r.fleet = append(r.fleet, in)
	}
	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, in := range r.fleet {
		if err := in.waitReady(readyCtx, r.client); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "  %s ready at %s (log %s)\n", in.name, in.base, in.logPath)
	}

	if r.store, err = flagstore.New(r.db, r.cfg.dialect); err != nil {
		return err
	}
	if r.registry, err = fleet.NewRegistry(ctx, r.db, r.cfg.dialect); err != nil {
		return err
	}
	if r.ctl, err = release.NewController(r.db, r.cfg.dialect, r.store, r.registry, release.WithInstanceID(actor)); err != nil {
		return err
	}
	if r.cfg.ui {
		if r.ui, err = serveUI(r.cfg.uiAddr, r.ctl, r.store); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "the page of the releases and flags: %s\n", r.ui.url)
	}
	return r.shipDark(ctx)
}

// shipDark ends a release of the plan left running by an earlier run on
// this database, and sets each flag of the plan to its baseline for
// everyone: new code ships dark. It waits until every instance serves
// that.
func (r *runner) shipDark(ctx context.Context) error {
	if st, err := r.ctl.Status(ctx, r.plan.ID); err == nil && !st.State.Terminal() {
		fmt.Fprintf(r.out, "aborting release %s, left %s by an earlier run\n", st.ID, st.State)
		if err := r.ctl.Abort(ctx, st.ID, actor, "a new run of examples/fleet"); err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, release.ErrNotFound) {
		return err
	}
	set, err := r.store.Current(ctx)
	if err != nil {
		return err
	}
	b, err := set.MarshalJSON()
	if err != nil {
		return err
	}
	var doc struct {
		Flags map[string]map[string]any `json:"flags"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	var edits []flagstore.Edit
	for _, f := range r.plan.Flags {
		def, ok := doc.Flags[f.Key]
		if !ok {
			return fmt.Errorf("flag %s of the plan is not in the flag store", f.Key)
		}
		delete(def, "targeting")
		def["defaultVariant"] = f.Baseline
		def["state"] = "ENABLED"
		raw, err := json.Marshal(def)
		if err != nil {
			return err
		}
		edits = append(edits, flagstore.Put(f.Key, raw))
	}
	res, err := r.store.Apply(ctx, flagstore.Change{Actor: actor, Reason: "the new code ships dark: every flag of the release at its baseline", Edits: edits})
	if err != nil {
		return fmt.Errorf("ship the flags dark: %w", err)
	}
	return r.waitRevision(ctx, res.Revision)
}

// waitRevision waits until every instance of the registry serves rev.
func (r *runner) waitRevision(ctx context.Context, rev int64) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	serving, listed := 0, 0
	for {
		if list, err := r.registry.List(ctx); err == nil {
			serving, listed = 0, len(list)
			for _, in := range list {
				if in.FlagsRevision != nil && *in.FlagsRevision >= rev {
					serving++
				}
			}
			if serving >= len(r.fleet) {
				return nil
			}
		} else if ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s, %d of the %d instances serve flag revision %d (%d in the registry): %w",
				readyTimeout, serving, len(r.fleet), rev, listed, ctx.Err())
		case <-t.C:
		}
	}
}

// close removes what the run made, its instances first.
func (r *runner) close() {
	r.ui.close()
	for _, in := range r.fleet {
		if err := in.stop(stopGrace); err != nil {
			fmt.Fprintln(r.errOut, "fleet:", err)
		}
	}
	if r.db != nil {
		_ = r.db.Close()
	}
	if r.tmp != "" {
		_ = os.RemoveAll(r.tmp)
	}
}

// breakerOpen reads an instance's /healthz and returns the flags whose
// Switch is not closed there (the check of the flag warns).
func (r *runner) breakerOpen(ctx context.Context, in *instance) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.base+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Checks map[string][]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s /healthz: %w", in.name, err)
	}
	var open []string
	for _, f := range r.plan.Flags {
		for key, results := range doc.Checks {
			if key != f.Key && !strings.HasPrefix(key, f.Key+":") {
				continue
			}
			for _, c := range results {
				if c.Status != "pass" {
					open = append(open, f.Key)
				}
			}
		}
	}
	return open, nil
}
