// Command service is the template of a rollsafe service: copy it and keep what
// you need.
//
// It opens an embedded SQLite database, applies its migrations at start-up,
// serves health endpoints (/livez, /readyz, /healthz) and an orders API, and on
// SIGINT or SIGTERM drains (readiness fails at once so that load balancers stop
// sending traffic), waits a moment, then shuts down gracefully.
//
// The flag orders-summary-v2 chooses the implementation of GET /summary; the
// service watches its flag file (--flags, default the example's own
// flags.json) and logs the file's path at start-up. --demo-faults lets a
// caller make the new implementation fail (GET /summary?fail=new) to watch
// the breaker send traffic back to the old one: a demonstration switch, off
// by default, that a real service must not carry, since any caller could
// trip the breaker for everyone.
//
//	go run ./examples/service                      # listens on 127.0.0.1:8080
//	go run ./examples/service --addr 127.0.0.1:9000 --db /tmp/orders.db
//	go run ./examples/service --flags /tmp/flags.json --demo-faults
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
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
	dbPath     string
	drainDelay time.Duration
	flagsPath  string
	demoFaults bool
	peers      urlList
}

// urlList is a repeatable string flag.
type urlList []string

func (l *urlList) String() string     { return strings.Join(*l, ",") }
func (l *urlList) Set(s string) error { *l = append(*l, s); return nil }

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.dbPath, "db", "", "SQLite database file (default: a new file in a temporary directory)")
	fs.DurationVar(&c.drainDelay, "drain-delay", 2*time.Second,
		"how long readiness fails before the server stops accepting connections")
	fs.StringVar(&c.flagsPath, "flags", "", "flag definitions in the flagd format, watched for changes (default: the example's own flags.json, found beside its source wherever the service is started, else a copy in the temporary directory)")
	fs.BoolVar(&c.demoFaults, "demo-faults", false, "let GET /summary?fail=new make the new implementation fail, to demonstrate the breaker (never in production: any caller could trip it for everyone)")
	fs.Var(&c.peers, "peer", "base URL of a peer whose manifest to negotiate with at start-up (repeatable)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, nil
}
