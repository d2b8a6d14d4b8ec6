package version

import (
	"fmt"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Verdict is the outcome of negotiating with one peer.
type Verdict string

// The verdicts. Only Compatible lets the [Refuse] policy pass.
const (
	// Compatible: both directions hold — our constraint on the peer admits
	// its version and its constraint on us admits ours (a missing constraint
	// admits anything).
	Compatible Verdict = "compatible"
	// Incompatible: at least one direction fails; Reasons say which and why.
	Incompatible Verdict = "incompatible"
	// Unreachable: the peer did not answer within the timeout, refused the
	// connection or answered with a server error.
	Unreachable Verdict = "unreachable"
	// Invalid: the peer answered (or its file held) something that is not a
	// valid manifest.
	Invalid Verdict = "invalid"
	// Missing: a service named in our Requires for which no peer answered.
	Missing Verdict = "missing"
)

// PeerResult is the verdict on one peer.
type PeerResult struct {
	// Source is where the manifest came from: a URL (with any password in
	// it replaced by "xxxxx"), a file or a registry address. Empty for a
	// [Missing] service.
	Source string `json:"source"`
	// Service and Version are the peer's, empty when unknown.
	Service string  `json:"service"`
	Version string  `json:"version"`
	Verdict Verdict `json:"verdict"`
	// Reasons explain any verdict but Compatible, in words for a person.
	Reasons []string `json:"reasons"`
	// Manifest is the peer's manifest when one was read and valid.
	Manifest *Manifest `json:"-"`
}

// Checker decides the compatibility of peers with one manifest, its own. It
// parses our constraints once and caches verdicts per (service, version,
// constraint on us), so that checking the same peer again costs a map
// lookup. A Checker is safe for concurrent use.
type Checker struct {
	self     *compiled
	cfg      *config
	verdicts metric.Int64Counter
	tracer   trace.Tracer

	mu    sync.RWMutex
	cache map[checkKey]checked
}

const instrumentation = "github.com/rollsafe/rollsafe/version"

// The cache is bounded so that peers announcing ever new versions cannot
// grow it without limit; when full it starts afresh.
const maxCached = 1024

type checkKey struct {
	service, version, onUs string
}

type checked struct {
	verdict Verdict
	reasons []string
}

// NewChecker returns a Checker for self. An empty self.Version is resolved
// from the build info (see [Resolve]); an invalid self is refused with a
// [*FieldError].
func NewChecker(self Manifest, opts ...CheckerOption) (*Checker, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newChecker(self, cfg)
}

func newChecker(self Manifest, cfg *config) (*Checker, error) {
	var err error
	if self.Version == "" {
		if self, err = Resolve(self); err != nil {
			return nil, fmt.Errorf("version: our manifest: %w", err)
		}
	}
	c, err := compile(self)
	if err != nil {
		return nil, fmt.Errorf("version: our manifest: %w", err)
	}
	mp := cfg.meter
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	counter, err := mp.Meter(instrumentation).Int64Counter(
		"rollsafe.version.peer.verdicts",
		metric.WithDescription("Verdicts of version negotiation, one per peer per round."),
		metric.WithUnit("{verdict}"))
	if err != nil {
		return nil, fmt.Errorf("version: metrics: %w", err)
	}
	tp := cfg.tracer
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Checker{self: c, cfg: cfg, verdicts: counter, tracer: tp.Tracer(instrumentation),
		cache: make(map[checkKey]checked)}, nil
}

// Self returns the checker's own manifest, resolved.
func (c *Checker) Self() Manifest { return c.self.m }

// Check returns the verdict on a peer's manifest: Compatible, Incompatible
// or, when the manifest is not valid, Invalid. A Compatible or Incompatible
// verdict is cached and reused for any peer with the same service, version
// and constraint on us, so the peer's other fields are validated only on a
// cache miss: give Check manifests from [ParseManifest] (as negotiation
// does) when they come from outside. An Invalid verdict is never cached, so
// one malformed manifest cannot condemn a valid one that shares its key.
// The result's Source and Manifest are left empty. The returned Reasons
// slice is shared with the cache and must not be modified.
func (c *Checker) Check(peer Manifest) PeerResult {
	r := PeerResult{Service: peer.Service, Version: peer.Version}
	key := checkKey{service: peer.Service, version: peer.Version, onUs: peer.Requires[c.self.m.Service]}
	c.mu.RLock()
	hit, ok := c.cache[key]
	c.mu.RUnlock()
	if !ok {
		hit = c.decide(peer)
		if hit.verdict != Invalid {
			c.mu.Lock()
			if len(c.cache) >= maxCached {
				clear(c.cache)
			}
			c.cache[key] = hit
			c.mu.Unlock()
		}
	}
	r.Verdict, r.Reasons = hit.verdict, hit.reasons
	if hit.verdict == Invalid {
		// An invalid manifest's service and version can be anything, of any
		// length: the result quotes them bounded. (A valid one's are short.)
		r.Service, r.Version = clip(r.Service), clip(r.Version)
	}
	return r
}

// decide works out a verdict from the two fields that matter: the peer's
// version against our constraint on its service, and our version against
// the peer's constraint on ours.
func (c *Checker) decide(peer Manifest) checked {
	self := c.self.m
	if peer.Version == "" {
		fe := &FieldError{Field: "version", Value: "", Reason: "is missing"}
		return checked{verdict: Invalid, reasons: []string{fe.Error()}}
	}
	pc, err := compile(peer)
	if err != nil {
		return checked{verdict: Invalid, reasons: []string{err.Error()}} // a *FieldError: bounded
	}
	var reasons []string
	if ours, ok := c.self.requires[peer.Service]; ok {
		if why := c.unmet(ours, pc.version); why != nil {
			reasons = append(reasons, fmt.Sprintf("%s %s requires %s %q but found %s: %s",
				self.Service, self.Version, peer.Service, clip(self.Requires[peer.Service]), peer.Version, clip(strings.Join(why, "; "))))
		}
	}
	if theirs, ok := pc.requires[self.Service]; ok {
		if why := c.unmet(theirs, c.self.version); why != nil {
			reasons = append(reasons, fmt.Sprintf("%s %s requires %s %q but we are %s: %s",
				peer.Service, peer.Version, self.Service, clip(peer.Requires[self.Service]), self.Version, clip(strings.Join(why, "; "))))
		}
	}
	if reasons != nil {
		return checked{verdict: Incompatible, reasons: reasons}
	}
	return checked{verdict: Compatible, reasons: []string{}}
}

// unmet returns why v does not meet cs, or nil when it does.
func (c *Checker) unmet(cs *semver.Constraints, v *semver.Version) []string {
	use := *cs // a copy: the parsed constraint is shared
	use.IncludePrerelease = c.cfg.prereleases
	ok, errs := use.Validate(v)
	if ok {
		return nil
	}
	why := make([]string, 0, len(errs))
	seen := make(map[string]bool, len(errs))
	for _, e := range errs {
		s := humanize(e.Error())
		if !seen[s] {
			seen[s] = true
			why = append(why, s)
		}
	}
	if len(why) == 0 {
		why = append(why, "the constraint is not met")
	}
	return why
}

// humanize rewrites the semver library's messages into plainer words.
func humanize(s string) string {
	s = strings.ReplaceAll(s, `"`, "")
	if v, ok := strings.CutSuffix(s, " is a prerelease version and the constraint is only looking for release versions"); ok {
		return v + " is a prerelease, which constraints exclude unless prereleases are allowed"
	}
	return s
}
