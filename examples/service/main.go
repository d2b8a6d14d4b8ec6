// Command service is the template of a rollsafe service: copy it and keep what
// you need.
//
// It opens its database (an embedded SQLite file by default; PostgreSQL or
// MySQL with --dialect and --dsn), applies its migrations at start-up,
// serves health endpoints (/livez, /readyz, /healthz) and an orders API,
// joins the fleet registry in that database, and on SIGINT or SIGTERM
// drains (readiness fails at once so that load balancers stop sending
// traffic), waits a moment, shuts down gracefully and leaves the registry.
//
// The flag orders-summary-v2 chooses the implementation of GET /summary,
// the flag orders-create-v2 that of POST /orders.
// The flags live in the flag store in the service's own database
// (flags/flagstore), seeded from the embedded flags.json the first time, so
// that every instance on that database follows one switch:
//
//	rollsafe flags kill orders-summary-v2 --dialect sqlite --dsn /tmp/orders.db --reason "v2 is slow" --wait
//
// Each instance reports the revision of the flags it serves in the fleet
// registry, which is what --wait waits for. --flags FILE reads a flag file
// instead, watched for changes. --demo-faults lets a caller make the new
// implementation fail (GET /summary?fail=new) to watch the breaker send
// traffic back to the old one: a demonstration switch, off by default, that
// a real service must not carry, since any caller could trip the breaker
// for everyone. --demo-fault makes both new implementations fail, panic or
// slow down, for examples/fleet to show a bad release rolled back.
//
//	go run ./examples/service                      # listens on 127.0.0.1:8080
//	go run ./examples/service --addr 127.0.0.1:9000 --db /tmp/orders.db
//	go run ./examples/service --dialect postgres --dsn 'postgres://app@127.0.0.1:5432/app'
//	go run ./examples/service --flags /tmp/flags.json --demo-faults
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], logger, nil); err != nil {
		logger.Error("service stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

// config is what the command line sets.
type config struct {
	addr       string
	dialect    dialect.Dialect
	dbPath     string // SQLite
	dsn        string // PostgreSQL, MySQL
	drainDelay time.Duration
	flagsPath  string
	demoFaults bool
	demoFault  fault
	peers      urlList
}

// urlList is a repeatable string flag.
type urlList []string

func (l *urlList) String() string     { return strings.Join(*l, ",") }
func (l *urlList) Set(s string) error { *l = append(*l, s); return nil }

func parseConfig(args []string, stderr io.Writer) (config, error) {
	c := config{dialect: dialect.SQLite, demoFault: fault{kind: "none"}}
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.Var(&c.dialect, "dialect", "`database`: sqlite (embedded, the file of --db), postgres or mysql (the server of --dsn)")
	fs.StringVar(&c.dbPath, "db", "", "SQLite database file; instances started on one file share its flags and registry (default: a new file in a temporary directory)")
	fs.StringVar(&c.dsn, "dsn", "", "DSN of the PostgreSQL or MySQL database, as pgx or go-sql-driver/mysql read it (default $ORDERS_DSN, so that a password stays out of the process list)")
	fs.DurationVar(&c.drainDelay, "drain-delay", 2*time.Second,
		"how long readiness fails before the server stops accepting connections")
	fs.StringVar(&c.flagsPath, "flags", "", "read flag definitions from this file in the flagd format, watched for changes, instead of the flag store in the database")
	fs.BoolVar(&c.demoFaults, "demo-faults", false, "let GET /summary?fail=new make the new implementation fail, to demonstrate the breaker (never in production: any caller could trip it for everyone)")
	fs.Func("demo-fault", "make the new implementations of GET /summary and POST /orders misbehave: `none`, error=P (a fraction P of their calls fail), latency=D (each takes D longer) or panic=P; a demonstration of a bad release for examples/fleet, never in production", func(s string) error {
		f, err := parseFault(s)
		c.demoFault = f
		return err
	})
	fs.Var(&c.peers, "peer", "base URL of a peer whose manifest to negotiate with at start-up (repeatable)")
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
	case c.dialect == dialect.SQLite && c.dsn != "":
		return c, errors.New("--dsn is for postgres and mysql: give the SQLite file with --db")
	case c.dialect != dialect.SQLite && c.dsn == "":
		return c, fmt.Errorf("--dialect %s needs --dsn (or $ORDERS_DSN)", c.dialect)
	case c.dialect != dialect.SQLite && c.dbPath != "":
		return c, fmt.Errorf("--db is the SQLite file; with --dialect %s give --dsn", c.dialect)
	}
	return c, nil
}
