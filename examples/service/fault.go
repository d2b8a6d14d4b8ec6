package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// fault is what --demo-fault makes the new implementations (GET /summary
// and POST /orders under their flags) do: a demonstration of a bad release,
// for examples/fleet to roll back. The old implementations never fail.
type fault struct {
	kind  string        // "none", "error", "latency" or "panic"
	share float64       // error, panic: the fraction of new-path calls hit
	delay time.Duration // latency: how much longer every new-path call takes
}

// parseFault reads "none", "error=P", "latency=D" or "panic=P", with P a
// fraction in (0, 1] and D a Go duration above zero.
func parseFault(s string) (fault, error) {
	kind, arg, hasArg := strings.Cut(s, "=")
	switch {
	case kind == "none" && !hasArg:
		return fault{kind: "none"}, nil
	case (kind == "error" || kind == "panic") && hasArg:
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(p > 0 && p <= 1) {
			return fault{}, fmt.Errorf("fault %q: %s=P needs a fraction P above 0 and at most 1, such as %s=0.5", s, kind, kind)
		}
		return fault{kind: kind, share: p}, nil
	case kind == "latency" && hasArg:
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return fault{}, fmt.Errorf("fault %q: latency=D needs a duration D above zero, such as latency=300ms", s)
		}
		return fault{kind: kind, delay: d}, nil
	}
	return fault{}, fmt.Errorf("fault %q: want none, error=P, latency=D or panic=P", s)
}

func (f fault) String() string {
	switch f.kind {
	case "error", "panic":
		return f.kind + "=" + strconv.FormatFloat(f.share, 'g', -1, 64)
	case "latency":
		return "latency=" + f.delay.String()
	}
	return "none"
}

// errInjected is the failure of a new-path call that an error fault hit.
var errInjected = errors.New("demonstration fault: the new implementation failed")

// inject is called at the start of a new-path call, before it touches the
// database, so that a write it fails is never half done: it fails the
// call, panics, or delays it as the fault says.
func (f fault) inject(ctx context.Context, what string) error {
	switch f.kind {
	case "error":
		if rand.Float64() < f.share {
			return fmt.Errorf("%s: %w", what, errInjected)
		}
	case "panic":
		if rand.Float64() < f.share {
			panic(what + ": demonstration fault: the new implementation panicked")
		}
	case "latency":
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
