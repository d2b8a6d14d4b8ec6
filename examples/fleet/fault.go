package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// faultKind is what --fault does to the new code path; examples/service
// (its --demo-fault) does it, the command only needs to know which.
type faultKind string

const (
	faultNone    faultKind = "none"
	faultError   faultKind = "error"
	faultLatency faultKind = "latency"
	faultPanic   faultKind = "panic"
)

// parseFault checks a --fault before any instance starts, so that a typo
// is refused at once rather than by every instance.
func parseFault(s string) (faultKind, error) {
	kind, arg, _ := strings.Cut(s, "=")
	switch faultKind(kind) {
	case faultNone:
		if s == "none" {
			return faultNone, nil
		}
	case faultError, faultPanic:
		if p, err := strconv.ParseFloat(arg, 64); err == nil && p > 0 && p <= 1 {
			return faultKind(kind), nil
		}
		return "", fmt.Errorf("%q: %s=P needs a fraction P above 0 and at most 1, such as %s=0.5", s, kind, kind)
	case faultLatency:
		if d, err := time.ParseDuration(arg); err == nil && d > 0 {
			return faultLatency, nil
		}
		return "", fmt.Errorf("%q: latency=D needs a duration D above zero, such as latency=300ms", s)
	}
	return "", fmt.Errorf("%q: want none, error=P, latency=D or panic=P", s)
}
