// Command peers is a small service that carries a version manifest, serves it
// at /.well-known/rollsafe and refuses to start beside a peer it is
// incompatible with. Run two of them to see negotiation at work:
//
//	go run ./examples/peers --service payments --version 1.4.0 --addr 127.0.0.1:9001
//	go run ./examples/peers --service orders --version 2.0.0 --requires 'payments=^2' \
//	    --peer http://127.0.0.1:9001/ --addr 127.0.0.1:9000
//	# refused: orders 2.0.0 requires payments "^2" but found 1.4.0 (exit status 1)
//
//	go run ./examples/peers --service payments --version 2.1.0 --addr 127.0.0.1:9002
//	go run ./examples/peers --service orders --version 2.0.0 --requires 'payments=^2' \
//	    --peer http://127.0.0.1:9002/ --addr 127.0.0.1:9000
//	# starts; curl 127.0.0.1:9000/.well-known/rollsafe and 127.0.0.1:9000/readyz
//
// A manifest can also come from a file (--manifest), as the ones in
// manifests/, which the CI templates in examples/ci check with
// "rollsafe version check".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rollsafe/rollsafe/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		stop()
		os.Exit(1)
	}
}

// config is what the command line sets.
type config struct {
	addr     string
	self     version.Manifest
	peers    []string
	policy   version.Policy
	interval time.Duration
}

// requiresFlag collects repeated --requires NAME=CONSTRAINT.
type requiresFlag map[string]string

func (r requiresFlag) String() string { return fmt.Sprint(map[string]string(r)) }

func (r requiresFlag) Set(s string) error {
	name, constraint, ok := strings.Cut(s, "=")
	if !ok || name == "" || constraint == "" {
		return fmt.Errorf("%q is not NAME=CONSTRAINT", s)
	}
	r[name] = constraint
	return nil
}

// peersFlag collects repeated --peer URL.
type peersFlag []string

func (p *peersFlag) String() string { return strings.Join(*p, ",") }

func (p *peersFlag) Set(s string) error {
	*p = append(*p, s)
	return nil
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	requires := requiresFlag{}
	var peers peersFlag
	var policy, manifestFile string
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	fs.StringVar(&c.self.Service, "service", "", "this service's name (required)")
	fs.StringVar(&c.self.Version, "version", "", "this build's version, strict semver (required)")
	fs.Var(requires, "requires", "a peer requirement NAME=CONSTRAINT, e.g. 'payments=^2' (repeatable)")
	fs.StringVar(&c.self.Schema, "schema", "", "the schema range this build works with, e.g. '>=3 <=5'")
	fs.StringVar(&manifestFile, "manifest", "", "read the manifest from `FILE` instead of --service, --version, --requires, --schema")
	fs.Var(&peers, "peer", "a peer's base URL (repeatable)")
	fs.StringVar(&policy, "policy", "refuse", "what to do with incompatible peers: refuse|warn|quorum")
	fs.DurationVar(&c.interval, "interval", 30*time.Second, "how often to negotiate again once started")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if len(requires) > 0 {
		c.self.Requires = requires
	}
	if manifestFile != "" {
		if c.self.Service != "" || c.self.Version != "" || c.self.Requires != nil || c.self.Schema != "" {
			return c, errors.New("--manifest excludes --service, --version, --requires and --schema")
		}
		data, err := os.ReadFile(manifestFile)
		if err != nil {
			return c, err
		}
		if c.self, err = version.ParseManifest(data); err != nil {
			return c, fmt.Errorf("%s: %w", manifestFile, err)
		}
	}
	c.peers = peers
	var err error
	if c.policy, err = version.ParsePolicy(policy); err != nil {
		return c, err
	}
	if c.self.Version == "" {
		return c, errors.New("--version is required")
	}
	if err := c.self.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// run parses args, listens and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	return serve(ctx, c, ln, stdout)
}

// serve negotiates with the peers and, when the policy lets it start, serves
// the manifest and a readiness endpoint on ln until ctx ends. It closes ln.
func serve(ctx context.Context, c config, ln net.Listener, stdout io.Writer) error {
	defer ln.Close()
	manifest, err := version.NewHandler(c.self)
	if err != nil {
		return err
	}
	// The start-up hook: refuse to run beside an incompatible peer.
	monitor, err := version.Startup(ctx, c.self, version.Static(c.peers),
		version.WithPolicy(c.policy), version.WithInterval(c.interval))
	if err != nil {
		return fmt.Errorf("%s %s will not start: %w", c.self.Service, c.self.Version, err)
	}
	defer monitor.Close()

	mux := http.NewServeMux()
	mux.Handle(version.DefaultPath, manifest)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := monitor.Check(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "%s %s listening on http://%s/\n", c.self.Service, c.self.Version, ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
