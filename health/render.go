package health

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// newOutcome builds the result of one run and renders its JSON entries once,
// so that serving it again costs no encoding.
func (c *Checker) newOutcome(k *check, res Result, err error, at time.Time, took time.Duration) *outcome {
	r := CheckResult{
		Name: k.name, Key: k.key,
		ComponentType: k.cfg.componentType, ComponentID: k.cfg.componentID,
		Critical: k.cfg.critical, Status: Pass,
		ObservedValue: res.ObservedValue, ObservedUnit: res.ObservedUnit,
		Output: res.Output, Err: err, Time: at, Duration: took,
	}
	if err != nil {
		r.Status, r.Output = Fail, err.Error()
		if !k.cfg.critical {
			r.Status = Warn
		}
	}
	return &outcome{result: r, full: renderFull(&r), withheld: renderWithheld(&r)}
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	enc, err := json.Marshal(s)
	if err != nil { // a string always encodes; keep the body valid regardless
		return strconv.AppendQuote(b, s)
	}
	return append(b, enc...)
}

func appendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func renderFull(r *CheckResult) []byte {
	b := appendString(nil, r.Key)
	b = append(b, `:[{"status":"`...)
	b = append(b, r.Status.String()...)
	b = append(b, '"')
	b = appendField(b, "componentId", r.ComponentID)
	b = appendField(b, "componentType", r.ComponentType)
	if r.ObservedValue != nil {
		v, err := json.Marshal(r.ObservedValue)
		if err != nil {
			v = appendString(nil, fmt.Sprint(r.ObservedValue))
		}
		b = append(b, `,"observedValue":`...)
		b = append(b, v...)
	}
	b = appendField(b, "observedUnit", r.ObservedUnit)
	if !r.Time.IsZero() {
		b = appendField(b, "time", r.Time.Format(time.RFC3339Nano))
	}
	b = appendField(b, "output", r.Output)
	return append(b, '}', ']')
}

func renderWithheld(r *CheckResult) []byte {
	b := appendString(nil, r.Key)
	b = append(b, `:[{"status":"`...)
	b = append(b, r.Status.String()...)
	return append(b, `"}]`...)
}

// renderMeta renders the service's fields, each with a leading comma.
func renderMeta(cfg *config) ([]byte, error) {
	var b []byte
	b = appendField(b, "version", cfg.version)
	b = appendField(b, "releaseId", cfg.releaseID)
	if len(cfg.notes) > 0 {
		notes, err := json.Marshal(cfg.notes)
		if err != nil {
			return nil, fmt.Errorf("health: notes: %w", err)
		}
		b = append(b, `,"notes":`...)
		b = append(b, notes...)
	}
	b = appendField(b, "serviceId", cfg.serviceID)
	b = appendField(b, "description", cfg.description)
	return b, nil
}

// appendBody appends the application/health+json body of g.
func (c *Checker) appendBody(b []byte, g *gathered, details bool) []byte {
	b = append(b, `{"status":"`...)
	b = append(b, g.status.String()...)
	b = append(b, '"')
	b = append(b, c.meta...)
	if g.draining {
		b = append(b, `,"output":"`...)
		b = append(b, ErrDraining.Error()...)
		b = append(b, '"')
	}
	b = append(b, `,"checks":{`...)
	for i, o := range g.outs {
		if i > 0 {
			b = append(b, ',')
		}
		if details {
			b = append(b, o.full...)
		} else {
			b = append(b, o.withheld...)
		}
	}
	return append(b, '}', '}')
}

// appendVerbose appends the plain-text form: a line per check, as Kubernetes
// prints them, then the verdict.
func (c *Checker) appendVerbose(b []byte, kind Kind, g *gathered, details bool) []byte {
	for _, o := range g.outs {
		r := &o.result
		switch r.Status {
		case Pass:
			b = append(b, "[+]"...)
			b = append(b, r.Name...)
			b = append(b, " ok"...)
		case Warn:
			b = append(b, "[!]"...)
			b = append(b, r.Name...)
			b = append(b, " warn: "...)
			b = appendReason(b, r, details)
		default:
			b = append(b, "[-]"...)
			b = append(b, r.Name...)
			b = append(b, " failed: "...)
			b = appendReason(b, r, details)
		}
		b = append(b, '\n')
	}
	if len(g.unknown) > 0 {
		b = append(b, "warn: some health checks cannot be excluded: no matches for"...)
		for _, n := range g.unknown {
			b = append(b, ' ')
			b = strconv.AppendQuote(b, n)
		}
		b = append(b, '\n')
	}
	b = append(b, kind.String()...)
	if g.status == Fail {
		return append(b, " check failed\n"...)
	}
	return append(b, " check passed\n"...)
}

func appendReason(b []byte, r *CheckResult, details bool) []byte {
	if details || r.Name == DrainingCheck {
		return append(b, r.Output...)
	}
	return append(b, "reason withheld"...)
}
