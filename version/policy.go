package version

import (
	"fmt"
	"strconv"
	"strings"
)

// Policy decides what a negotiation's report means for starting (or staying
// ready).
type Policy int

// The policies. The zero value is Refuse.
const (
	// Refuse fails when any peer is incompatible, unreachable or invalid,
	// and, with [WithRequireAll], when a required service has no peer.
	Refuse Policy = iota
	// Warn logs every problem and never fails.
	Warn
	// Quorum, like etcd joining a cluster, fails when any peer is known to be
	// incompatible or when a required service has no compatible peer; it
	// tolerates peers that are unreachable or invalid as long as each
	// required service has at least one compatible, reachable peer.
	Quorum
)

func (p Policy) String() string {
	switch p {
	case Refuse:
		return "refuse"
	case Warn:
		return "warn"
	case Quorum:
		return "quorum"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy reads "refuse", "warn" or "quorum".
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{Refuse, Warn, Quorum} {
		if p.String() == s {
			return p, nil
		}
	}
	return Refuse, fmt.Errorf("version: unknown policy %q (want refuse|warn|quorum)", s)
}

// Problems lists, one line each, what p objects to in r; nil means nothing.
// Warn objects to what Refuse does, but [Checker.Evaluate] only logs it.
func (p Policy) Problems(r Report, requireAll bool) []string {
	var out []string
	add := func(pr PeerResult) {
		who := pr.Source
		if pr.Service != "" {
			who = strings.TrimSpace(pr.Service + " " + pr.Version) // a missing service has no version
			if pr.Source != "" {
				who += " at " + pr.Source
			}
		}
		for _, why := range pr.Reasons {
			out = append(out, fmt.Sprintf("%s: %s: %s", who, pr.Verdict, why))
		}
	}
	switch p {
	case Refuse, Warn:
		for _, pr := range r.Peers {
			if pr.Verdict != Compatible && (pr.Verdict != Missing || requireAll) {
				add(pr)
			}
		}
	case Quorum:
		good := map[string]bool{}
		for _, pr := range r.Peers {
			switch pr.Verdict {
			case Compatible:
				good[pr.Service] = true
			case Incompatible:
				add(pr)
			}
		}
		for _, name := range sortedKeys(r.Self.Requires) {
			if !good[name] {
				out = append(out, fmt.Sprintf("%s: no compatible peer answered (quorum needs at least one)", name))
			}
		}
	}
	return out
}

// Evaluate applies the checker's policy ([WithPolicy], [WithRequireAll]) to
// a report: nil when it passes, else an [*IncompatibleError] listing the
// problems. Under [Warn] the problems are logged and nil is returned.
func (c *Checker) Evaluate(r Report) error {
	problems := c.cfg.policy.Problems(r, c.cfg.requireAll)
	if len(problems) == 0 {
		return nil
	}
	if c.cfg.policy == Warn {
		for _, p := range problems {
			c.cfg.logger.Warn("version: peer problem", "service", r.Self.Service, "problem", p)
		}
		return nil
	}
	return &IncompatibleError{Policy: c.cfg.policy, Report: r, Problems: problems}
}
