package annotation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Kind is the name of an annotation.
type Kind string

// The known annotations.
const (
	// Irreversible marks a migration whose down cannot restore what its up
	// removed. Rollbacks stop above it unless forced; the reversibility check
	// reports it instead of failing it.
	Irreversible Kind = "irreversible"
	// Contract acknowledges that a migration breaks the previous release's
	// code on purpose, because no running version still needs the old shape.
	Contract Kind = "contract"
)

// known reports whether k is one of the annotations above.
func (k Kind) known() bool { return k == Irreversible || k == Contract }

// Annotation is one parsed annotation.
type Annotation struct {
	Kind   Kind
	Reason string
	Line   int // 1-based line in the file
}

// Set is the annotations of one file.
type Set []Annotation

// Has reports whether the set holds an annotation of kind k.
func (s Set) Has(k Kind) bool {
	_, ok := s.Get(k)
	return ok
}

// Get returns the first annotation of kind k.
func (s Set) Get(k Kind) (Annotation, bool) {
	for _, a := range s {
		if a.Kind == k {
			return a, true
		}
	}
	return Annotation{}, false
}

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("bad rollsafe annotation")

// prefix starts an annotation line (after optional spaces).
const prefix = "rollsafe:"

// Parse returns the annotations in src, a SQL migration file. Lines that are
// not "--" comments starting with "rollsafe:" (in any case, so that
// "-- Rollsafe:contract" is reported rather than ignored) are ignored.
// Errors wrap ErrSyntax and say which line is wrong and why; every bad line
// is reported, and the set holds the good ones.
func Parse(src []byte) (Set, error) {
	var set Set
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		body, ok := strings.CutPrefix(line, "--")
		if !ok {
			continue
		}
		body = strings.TrimSpace(body)
		if len(body) < len(prefix) || !strings.EqualFold(body[:len(prefix)], prefix) {
			continue
		}
		a, err := parseLine(body[len(prefix):])
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: line %d: %v", ErrSyntax, n, err))
			continue
		}
		a.Line = n
		set = append(set, a)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %v", ErrSyntax, err))
	}
	return set, errors.Join(errs...)
}

func parseLine(s string) (Annotation, error) {
	name, args := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		name, args = s[:i], s[i:]
	}
	kind := Kind(name)
	if kind == "" {
		return Annotation{}, errors.New(`missing name after "rollsafe:"`)
	}
	if !kind.known() {
		return Annotation{}, fmt.Errorf("unknown annotation %q (known: irreversible, contract)", "rollsafe:"+string(kind))
	}
	kv, err := parseArgs(args)
	if err != nil {
		return Annotation{}, fmt.Errorf("rollsafe:%s: %v", kind, err)
	}
	reason, ok := kv["reason"]
	if !ok || strings.TrimSpace(reason) == "" {
		return Annotation{}, fmt.Errorf(`rollsafe:%s needs reason="why"`, kind)
	}
	return Annotation{Kind: kind, Reason: reason}, nil
}

// parseArgs reads key="value" pairs separated by spaces.
func parseArgs(s string) (map[string]string, error) {
	kv := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return kv, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("expected key=\"value\", found %q", s)
		}
		key := s[:eq]
		if strings.ContainsAny(key, " \t\"") {
			return nil, fmt.Errorf("expected key=\"value\", found %q", s)
		}
		if key != "reason" {
			return nil, fmt.Errorf("unknown argument %q", key)
		}
		if _, dup := kv[key]; dup {
			return nil, fmt.Errorf("argument %q given twice", key)
		}
		s = s[eq+1:]
		if !strings.HasPrefix(s, `"`) {
			return nil, fmt.Errorf("value of %s must be in double quotes", key)
		}
		val, rest, err := unquote(s[1:])
		if err != nil {
			return nil, fmt.Errorf("value of %s: %v", key, err)
		}
		kv[key] = val
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return nil, fmt.Errorf("expected a space after the value of %s", key)
		}
		s = rest
	}
}

// unquote reads up to the closing quote; s starts after the opening one.
func unquote(s string) (val, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", errors.New("unterminated escape")
			}
			i++
			if s[i] != '"' && s[i] != '\\' {
				return "", "", fmt.Errorf(`unknown escape \%c (only \" and \\)`, s[i])
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("missing closing quote")
}
