package main

// rollsafe serve: the page of the releases and flags of a whole fleet, and
// the admin handlers behind it, served from outside the services.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/localhost"
	"github.com/rollsafe/rollsafe/release"
)

const serveUsage = "rollsafe serve [--addr 127.0.0.1:8099] [--read-only] [--actor WHO | --user-header NAME [--host NAME,...]] --dialect D --dsn DSN\n\n" +
	"Serves the page of the fleet's releases and flags at http://ADDR/ until SIGINT or\n" +
	"SIGTERM: the current release (its steps, weights, measurements, verdict and\n" +
	"charts), the past ones, every flag with its split and audit trail, every live\n" +
	"instance of the registry with the flag revision it serves; live, with buttons to\n" +
	"promote, pause, resume or abort a release and to kill, revive or set the weights\n" +
	"of a flag, each asking for a reason. The admin routes the page calls are served\n" +
	"too, under /api/ (the routes of release.NewHandler and flagstore.NewHandler).\n\n" +
	"Who may do what:\n" +
	"  - without --user-header, only callers on this host (a loopback address, and a\n" +
	"    Host header that names this host, so that another site's page cannot reach\n" +
	"    it by DNS rebinding); their writes are recorded under --actor (default the\n" +
	"    OS user);\n" +
	"  - with --user-header NAME, every caller whose request carries the header, as\n" +
	"    the user it names: for an authenticating proxy in front that sets it (and\n" +
	"    strips it from what its clients send). Bind --addr where only the proxy\n" +
	"    reaches. The Host header must still name this host, or one of --host (the\n" +
	"    names the proxy is reached by): a page of another site that reaches the\n" +
	"    address by a name of its own is refused;\n" +
	"  - --read-only refuses every write: the page shows no action at all.\n\n" +
	"The database holds the fleet's tables (rollsafe_flags, rollsafe_releases,\n" +
	"rollsafe_instances): the page creates none of them before they are needed. The\n" +
	"command drives no release; the services' controllers do.\n\n" +
	"Exit codes: 0 stopped by a signal; 2 could not run (bad usage, a database that\n" +
	"does not answer, an address that cannot be listened on)."

func serveCommand() command {
	return command{
		name:    "serve",
		summary: "serve the page of the fleet's releases and flags, with its admin routes",
		usage:   serveUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			s := &server{storeFlags: newStoreFlags(fs)}
			s.group = "serve"
			fs.StringVar(&s.addr, "addr", "127.0.0.1:8099", "`host:port` to listen on")
			fs.BoolVar(&s.readOnly, "read-only", false, "refuse every write: the page shows, and offers no action")
			fs.StringVar(&s.actor, "actor", "", "who the writes of callers on this host are recorded under (default: the OS user, or $USER)")
			fs.StringVar(&s.userHeader, "user-header", "", "trust the request header `NAME` for who the caller is (set by an authenticating proxy in front)")
			fs.StringVar(&s.hosts, "host", "", "with --user-header, the host `NAMES` (comma-separated) the page may be reached by, besides this host's")
			return func(e *env, args []string) int {
				if len(args) != 0 {
					e.errorf("serve: unexpected argument %q", args[0])
					return exitCantRun
				}
				return s.run(e)
			}
		},
	}
}

type server struct {
	*storeFlags
	addr, actor, userHeader, hosts string
	readOnly                       bool
	names                          []string // --host, each as localhost.Canonical writes it
}

// errReadOnly refuses the writes of a --read-only page.
var errReadOnly = errors.New("this page is read-only (rollsafe serve --read-only)")

func (s *server) run(e *env) int {
	if s.userHeader != "" && s.actor != "" {
		e.errorf("serve: --actor and --user-header: the actor is either the one given or the one the header names, not both")
		return exitCantRun
	}
	if s.hosts != "" && s.userHeader == "" {
		e.errorf("serve: --host is for --user-header: without it only callers on this host are served")
		return exitCantRun
	}
	for _, h := range strings.Split(s.hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		name := localhost.Canonical(h)
		if strings.ContainsAny(name, "/ ") || strings.Contains(name, ":") && net.ParseIP(name) == nil {
			e.errorf("serve: --host %q: give a host name or address without a port or a path", h)
			return exitCantRun
		}
		s.names = append(s.names, name)
	}
	if s.userHeader == "" && s.actor == "" && !s.readOnly {
		if s.actor = osUser(e); s.actor == "" {
			e.errorf("serve: no --actor, and the OS user is unknown: say who the writes are recorded under")
			return exitCantRun
		}
	}
	db, store, code := s.open(e, "", false)
	if code != exitOK {
		return code
	}
	defer db.Close()
	rf := &releaseFlags{s.storeFlags}
	_, _, c, code := rf.controllerOn(e, "serve", db, store)
	if code != exitOK {
		return code
	}
	title := "rollsafe"
	if s.readOnly {
		title = "rollsafe (read-only)"
	}
	page, err := release.NewPage(c, store, s.authorize, func(r *http.Request, a flagstore.Action, _ string) (string, error) {
		return s.decide(r, a != flagstore.ActionList && a != flagstore.ActionRead && a != flagstore.ActionHistory)
	}, release.WithPageTitle(title))
	if err != nil {
		e.errorf("serve: %v", err)
		return exitCantRun
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		e.errorf("serve: --addr %s: %v", s.addr, err)
		return exitCantRun
	}
	mux := http.NewServeMux()
	if err := page.Mount(mux, ""); err != nil {
		e.errorf("serve: %v", err)
		return exitCantRun
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(func() { _ = page.Close() })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	mode := ""
	if s.readOnly {
		mode = " (read-only)"
	}
	fmt.Fprintf(e.stdout, "serving the releases and flags of %s at http://%s/%s\n", s.dialect, ln.Addr(), mode)

	select {
	case err := <-served:
		e.errorf("serve: %v", err)
		return exitCantRun
	case <-e.ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // the page's streams end with it; a slow client is cut off at the deadline
	return exitOK
}

func (s *server) authorize(r *http.Request, a release.Action, _ string) (string, error) {
	return s.decide(r, a != release.ActionList && a != release.ActionRead)
}

// decide is the one rule of both authorizers: who the caller is, and
// whether it may write.
func (s *server) decide(r *http.Request, write bool) (string, error) {
	actor := s.actor
	if s.userHeader != "" {
		if name := localhost.HostName(r); !localhost.Name(name) && !slices.Contains(s.names, name) {
			return "", errors.New("the page is not served by the name " + strconv.Quote(name) + " (rollsafe serve --host)")
		}
		actor = strings.TrimSpace(r.Header.Get(s.userHeader))
		if actor == "" {
			return "", errors.New("no " + s.userHeader + " header: who are you?")
		}
	} else if !localhost.Request(r) {
		return "", errors.New("only callers on this host (rollsafe serve --user-header for a proxy in front)")
	}
	if write && s.readOnly {
		return "", errReadOnly
	}
	return actor, nil
}
