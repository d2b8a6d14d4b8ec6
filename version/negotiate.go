package version

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Peer is one peer to negotiate with.
type Peer struct {
	// Source is the peer's base URL ("http://10.0.0.7:8080/", to which the
	// manifest path is appended), the full URL of its manifest
	// ("http://10.0.0.7:8080/meta/manifest.json"), or, when Manifest is set,
	// any name that says where the manifest came from (a file, a registry
	// address).
	Source string
	// Manifest, when not nil, is the peer's manifest as JSON; it is parsed
	// instead of fetching Source.
	Manifest []byte
}

// URLs returns a peer for each URL.
func URLs(urls ...string) []Peer {
	peers := make([]Peer, len(urls))
	for i, u := range urls {
		peers[i] = Peer{Source: u}
	}
	return peers
}

// Report is the outcome of one negotiation.
type Report struct {
	// Self is our own manifest, resolved.
	Self Manifest
	// Peers holds a result per peer in the order given, then one [Missing]
	// result per required service that no valid manifest came from, in name
	// order.
	Peers []PeerResult
}

// Count returns how many results have the verdict v.
func (r Report) Count(v Verdict) int {
	n := 0
	for _, p := range r.Peers {
		if p.Verdict == v {
			n++
		}
	}
	return n
}

// Negotiate fetches every peer's manifest concurrently, each fetch bounded
// by the timeout ([WithTimeout]), and returns a verdict per peer. A peer that
// hangs, refuses or answers garbage costs its own verdict and at most one
// timeout, never the whole negotiation; Negotiate never fails because of a
// peer. It returns an error only for an invalid self or a bad option.
// Applying a policy to the report is separate: see [Checker.Evaluate].
func Negotiate(ctx context.Context, self Manifest, peers []Peer, opts ...NegotiateOption) (Report, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return Report{Self: self}, err
	}
	c, err := newChecker(self, cfg)
	if err != nil {
		return Report{Self: self}, err
	}
	return c.Negotiate(ctx, peers), nil
}

// Negotiate is [Negotiate] with this checker's manifest, options and cache.
func (c *Checker) Negotiate(ctx context.Context, peers []Peer) Report {
	ctx, span := c.tracer.Start(ctx, "version.Negotiate", trace.WithAttributes(
		attribute.String("rollsafe.service", c.self.m.Service),
		attribute.String("rollsafe.version", c.self.m.Version),
		attribute.Int("rollsafe.peers", len(peers))))
	defer span.End()
	results := make([]PeerResult, len(peers))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(c.cfg.concurrency, len(peers)) {
		wg.Go(func() {
			for i := range work {
				results[i] = c.negotiateOne(ctx, peers[i])
			}
		})
	}
	for i := range peers {
		work <- i
	}
	close(work)
	wg.Wait()

	answered := make(map[string]bool, len(results))
	for _, r := range results {
		if r.Verdict == Compatible || r.Verdict == Incompatible {
			answered[r.Service] = true
		}
	}
	for _, name := range sortedKeys(c.self.m.Requires) {
		if !answered[name] {
			results = append(results, PeerResult{
				Service: name, Verdict: Missing,
				Reasons: []string{fmt.Sprintf("%s requires %s %q but no peer of %s answered",
					c.self.m.Service, name, c.self.m.Requires[name], name)},
			})
		}
	}
	counts := map[Verdict]int{}
	for _, r := range results {
		counts[r.Verdict]++
	}
	for v, n := range counts {
		c.verdicts.Add(ctx, int64(n), metric.WithAttributes(
			attribute.String("service", c.self.m.Service),
			attribute.String("verdict", string(v))))
		span.SetAttributes(attribute.Int("rollsafe.verdict."+string(v), n))
	}
	if counts[Incompatible] > 0 {
		span.SetStatus(codes.Error, fmt.Sprintf("%d incompatible peers", counts[Incompatible]))
	}
	return Report{Self: c.self.m, Peers: results}
}

func (c *Checker) negotiateOne(ctx context.Context, p Peer) PeerResult {
	data := p.Manifest
	if data == nil {
		var res *PeerResult
		data, res = fetch(ctx, c.cfg, p.Source)
		if res != nil {
			return *res
		}
	}
	m, err := ParseManifest(data)
	if err != nil {
		return PeerResult{Source: redact(p.Source), Verdict: Invalid, Reasons: []string{err.Error()}} // bounded by ParseManifest
	}
	r := c.Check(m)
	r.Source = redact(p.Source)
	// The cache keeps the reasons; the report is the caller's to change.
	r.Reasons = slices.Clone(r.Reasons)
	if r.Verdict != Invalid {
		r.Manifest = &m
	}
	return r
}

// fetch reads a peer's manifest over HTTP, or returns the verdict that
// explains why it could not.
func fetch(ctx context.Context, cfg *config, source string) ([]byte, *PeerResult) {
	fail := func(v Verdict, format string, args ...any) ([]byte, *PeerResult) {
		return nil, &PeerResult{Source: redact(source), Verdict: v, Reasons: []string{fmt.Sprintf(format, args...)}}
	}
	target, err := ManifestURL(source, cfg.path)
	if err != nil {
		return fail(Unreachable, "%v", err)
	}
	shown := redact(target) // what messages say: the URL without its password
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fail(Unreachable, "peer %s: %v", redact(source), unwrapURLError(err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cfg.client.Do(req)
	if err != nil {
		return fail(Unreachable, "%s", noAnswer(ctx, cfg, shown, err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return fail(Unreachable, "GET %s answered %s", shown, clip(resp.Status))
	case resp.StatusCode != http.StatusOK:
		return fail(Invalid, "GET %s answered %s, not a manifest", shown, clip(resp.Status))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return fail(Unreachable, "%s", noAnswer(ctx, cfg, shown, err))
	}
	if len(data) > MaxManifestSize {
		return fail(Invalid, "GET %s answered more than %d bytes", shown, MaxManifestSize)
	}
	return data, nil
}

func noAnswer(ctx context.Context, cfg *config, target string, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("GET %s: no answer within %v", target, cfg.timeout)
	}
	return fmt.Sprintf("GET %s: %v", target, unwrapURLError(err))
}

// redact removes the password from a URL with one (basic authentication
// to a peer), so that reports and errors never show it; anything else, a
// file name say, is returned as it is.
func redact(source string) string {
	scheme, rest, ok := strings.Cut(source, "://")
	if !ok {
		return source
	}
	// Cut by hand rather than with url.Parse, so that a URL that does not
	// parse loses its password too.
	authority, path, hasPath := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return source
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return source
	}
	out := scheme + "://" + user + ":xxxxx" + authority[at:]
	if hasPath {
		out += "/" + path
	}
	return out
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Fetch reads and validates the manifest that source (a base URL or a
// manifest URL, see [ManifestURL]) serves, within the timeout
// ([WithTimeout]; [WithHTTPClient] and [WithPath] also apply). A peer that
// cannot be reached yields an error wrapping [ErrUnreachable]; one that
// answers something other than a valid manifest, [ErrInvalidManifest].
func Fetch(ctx context.Context, source string, opts ...FetchOption) (Manifest, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return Manifest{}, err
	}
	data, res := fetch(ctx, cfg, source)
	if res != nil {
		sentinel := ErrUnreachable
		if res.Verdict == Invalid {
			sentinel = ErrInvalidManifest
		}
		return Manifest{}, fmt.Errorf("%w: %s", sentinel, strings.Join(res.Reasons, "; "))
	}
	m, err := ParseManifest(data)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", redact(source), err)
	}
	return m, nil
}

// ManifestURL returns the URL to fetch a peer's manifest from. A source whose
// path is empty or ends in '/' is a base URL and gets path appended
// (path "" means [DefaultPath]); any other path is taken as the manifest's
// own URL. Only http and https are accepted.
func ManifestURL(source, path string) (string, error) {
	if path == "" {
		path = DefaultPath
	}
	u, err := url.Parse(source)
	if err != nil {
		return "", fmt.Errorf("peer %q is not a URL: %v", redact(source), unwrapURLError(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("peer %q is not an http or https URL", redact(source))
	}
	if u.Path == "" || strings.HasSuffix(u.Path, "/") {
		u.Path = strings.TrimSuffix(u.Path, "/") + path
		u.RawPath = ""
	}
	return u.String(), nil
}
