// Command fleet shows the whole story on one machine: a fleet of
// examples/service processes on one database, load on them, a release of
// the service's new code in steps (1% → 5% → 25% → 50% → 100%), a fault in
// that new code, and the release rolling itself back.
//
//	go run ./examples/fleet                          # --fault error=0.5, 3 instances, embedded SQLite
//	go run ./examples/fleet --fault none             # a good release: promoted to 100%
//	go run ./examples/fleet --fault latency=300ms --chart run.png
//	go run ./examples/fleet --fault error=0.05 --chaos kill-driver --json
//	go run ./examples/fleet --dialect postgres --dsn 'postgres://postgres@127.0.0.1:5432/orders'
//
// It builds examples/service (or runs the binary of --service), starts
// --instances copies as child processes on 127.0.0.1, each with its flag
// store reader, registry heartbeat, Switches, Recorder and Controller, and
// waits until all are ready. It sets the two flags of the release
// (orders-summary-v2 and orders-create-v2) to their old path, which is how
// new code ships: dark. Then it sends --rps requests a second, spread over
// the instances, each from one of many users (the X-User header, the
// flags' targeting key): reads (GET /summary) and writes (POST /orders,
// each with a unique id). It starts the release of release.yaml (embedded;
// --plan for another) and every instance's new code path has --fault in it:
// none, error=P (a fraction P of new-path calls fail), latency=D (each
// takes D longer) or panic=P.
//
// The instances judge the release themselves: one of them holds the
// release lease and drives it, all of them record what their Switches
// count. The command only watches: it prints a line a second (the step,
// the weights, each code path's calls and failures, the decisions), and
// when the release is promoted or rolled back it runs 10 s more (to see
// that the whole fleet serves the old path) or stops at --duration. Then it
// stops every instance (SIGTERM), reads every acknowledged write back from
// the database, and prints a summary table; with --json the last line of
// stdout is one JSON object:
//
//	{"fault": "error=0.5", "instances": 3, "requests": N, "failed": N, "failedNew": N,
//	 "servedNew": N, "servedOld": N, "verdict": "promoted"|"rolled_back"|"running",
//	 "faultFirstMs": N, "rollbackMs": N, "fleetOldMs": N, "writesAcked": N, "writesLost": N}
//
// Times are milliseconds from the start of the load: faultFirstMs the first
// response the fault showed in (a failed new-path call; for latency, the
// first new-path call), rollbackMs the commit of the rollback, fleetOldMs
// the first moment from which every instance served only the old path
// (seen in the responses' X-Code-Path). Fields that do not apply are null.
// A request failed when it got no 2xx answer; writesLost counts writes
// answered 2xx that are not in the database afterwards.
//
// --chart FILE draws the run (PNG or SVG, by the extension): the weights per
// step, the failure rate of each code path, the fault's first showing, each
// breaker trip, the rollback. --chaos kill-driver SIGKILLs the instance that
// holds the release lease in the middle of the run (at the first failed
// new-path call, or when the release reaches its third step): another
// instance takes the lease and carries on.
//
// Exit status: 0 when the run went as the fault requires (none: promoted,
// no rollback; any fault: rolled back), with no instance crashed or
// stopped uncleanly, no write lost, no failure of the old path, no request
// left unanswered by an instance that was not killed, and some write
// acknowledged; 1 otherwise; 2 when it could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0 // the run went as the fault requires
	exitFailed  = 1 // it did not
	exitCantRun = 2 // bad flags, a build or a start that failed
)

// config is what the command line sets.
type config struct {
	instances int
	rps       int
	fault     string
	kind      faultKind // what fault is
	duration  time.Duration
	json      bool
	chart     string
	chaos     string
	dialect   dialect.Dialect
	dsn       string
	service   string // a built examples/service; empty: build it
	plan      string // a release plan file; empty: the embedded release.yaml
	logs      string // where the instances' logs go; empty: a temporary directory
	settle    time.Duration
	ui        bool   // serve the page of the releases and flags
	uiAddr    string // where
}

// Limits of the flags.
const (
	maxInstances = 20
	maxRPS       = 2000
)

func parseConfig(args []string, stderr io.Writer) (config, error) {
	c := config{dialect: dialect.SQLite}
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.instances, "instances", 3, "how many instances of examples/service to run")
	fs.IntVar(&c.rps, "rps", 100, "requests a second, over all instances")
	fs.StringVar(&c.fault, "fault", "error=0.5", "the fault in the new code path: `none`, error=P, latency=D or panic=P")
	fs.DurationVar(&c.duration, "duration", 100*time.Second, "the longest the load runs")
	fs.BoolVar(&c.json, "json", false, "end with one JSON object on the last line of stdout")
	fs.StringVar(&c.chart, "chart", "", "draw the run into this `file` (.png or .svg)")
	fs.StringVar(&c.chaos, "chaos", "", "kill-driver: SIGKILL the instance that drives the release in the middle of the run")
	fs.Var(&c.dialect, "dialect", "`database`: sqlite (an embedded file), postgres or mysql (the server of --dsn)")
	fs.StringVar(&c.dsn, "dsn", "", "DSN of the PostgreSQL or MySQL database (default $ORDERS_DSN); the instances get it in $ORDERS_DSN")
	fs.StringVar(&c.service, "service", "", "a built examples/service `binary` (default: build it with the go tool)")
	fs.StringVar(&c.plan, "plan", "", "the release plan `file` (default: the embedded release.yaml)")
	fs.StringVar(&c.logs, "logs", "", "write each instance's log into this `directory` and keep it (default: a temporary one, removed)")
	fs.DurationVar(&c.settle, "settle", 10*time.Second, "how long the load goes on once the release is promoted or rolled back")
	fs.BoolVar(&c.ui, "ui", false, "serve the page of the releases and flags while the run lasts (at --ui-addr)")
	fs.StringVar(&c.uiAddr, "ui-addr", "127.0.0.1:8099", "`host:port` of the page of --ui")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.dsn == "" && c.dialect != dialect.SQLite {
		c.dsn = os.Getenv("ORDERS_DSN")
	}
	switch {
	case c.instances < 1 || c.instances > maxInstances:
		return c, fmt.Errorf("--instances %d: give 1 to %d", c.instances, maxInstances)
	case c.rps < 1 || c.rps > maxRPS:
		return c, fmt.Errorf("--rps %d: give 1 to %d", c.rps, maxRPS)
	case c.duration <= 0:
		return c, fmt.Errorf("--duration %s: give a duration above zero", c.duration)
	case c.settle < 0:
		return c, fmt.Errorf("--settle %s: give a duration of zero or more", c.settle)
	case c.chaos != "" && c.chaos != "kill-driver":
		return c, fmt.Errorf("--chaos %q: the one chaos there is is kill-driver", c.chaos)
	case c.dialect == dialect.SQLite && c.dsn != "":
		return c, errors.New("--dsn is for postgres and mysql; with sqlite the database is a file the command makes")
	case c.dialect != dialect.SQLite && c.dsn == "":
		return c, fmt.Errorf("--dialect %s needs --dsn (or $ORDERS_DSN)", c.dialect)
	}
	kind, err := parseFault(c.fault)
	if err != nil {
		return c, fmt.Errorf("--fault: %w", err)
	}
	c.kind = kind
	return c, nil
}
