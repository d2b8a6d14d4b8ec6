package flags

import (
	"encoding/json"
	"fmt"
)

// MarshalJSON writes the set in the flagd format that [Parse] reads, with its
// $evaluators and $ref references as they were written, and its invalid flags
// ([Set.Problems]) as they were read.
func (s *Set) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.document())
}

func (s *Set) document() map[string]any {
	doc := map[string]any{}
	flagsDoc := map[string]any{}
	if s != nil {
		for key, inv := range s.invalid {
			flagsDoc[key] = inv.raw
		}
		for key, f := range s.flags {
			flagsDoc[key] = f.document()
		}
		if len(s.metadata) > 0 {
			doc["metadata"] = s.metadata
		}
		if len(s.evaluators) > 0 {
			doc["$evaluators"] = s.evaluators
		}
	}
	doc["flags"] = flagsDoc
	return doc
}

func (f *flag) document() map[string]any {
	d := map[string]any{
		"state":    string(f.state),
		"variants": f.variants,
	}
	if f.defaultVariant != "" {
		d["defaultVariant"] = f.defaultVariant
	} else {
		d["defaultVariant"] = nil
	}
	if f.rawTargeting != nil {
		d["targeting"] = f.rawTargeting
	}
	if len(f.flagMetadata) > 0 {
		d["metadata"] = f.flagMetadata
	}
	return d
}

// rebuild parses a document in which the flag named key was changed, so that
// a written definition passes exactly the validation that a loaded one does.
// The write is refused when the document is, or when the flag it changed is
// invalid; other flags that were invalid before stay as they were.
func rebuild(doc map[string]any, key string) (*Set, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("flags: encode flag definitions: %w", err)
	}
	set, err := Parse(b)
	if set == nil {
		return nil, err
	}
	if inv, ok := set.invalid[key]; ok {
		return nil, &ValidationError{Problems: inv.problems}
	}
	return set, nil
}

// writable returns the flag named key for a write: an error wrapping
// [ErrNotFound] when the set has no such flag, and the flag's problems when
// it is invalid, which only a new definition can mend.
func (s *Set) writable(key string) (*flag, error) {
	if f := s.lookup(key); f != nil {
		return f, nil
	}
	if s != nil {
		if inv, ok := s.invalid[key]; ok {
			return nil, wrapf(&ValidationError{Problems: inv.problems}, "an invalid flag cannot be changed, only replaced")
		}
	}
	return nil, fmt.Errorf("flags: flag %q: %w", key, ErrNotFound)
}

// WithState returns a copy of s in which the flag named key has state
// ([Enabled] or [Disabled]), validated as [Parse] validates a loaded flag;
// s itself is not changed. It returns an error wrapping [ErrNotFound] when
// s has no such flag, and a [*ValidationError] naming the flag and field
// when the state is neither or the flag is invalid (only a new definition
// can mend it).
func (s *Set) WithState(key string, state State) (*Set, error) {
	if state != Enabled && state != Disabled {
		return nil, refuseWrite(key, "state", "%q is not ENABLED or DISABLED", state)
	}
	f, err := s.writable(key)
	if err != nil {
		return nil, err
	}
	doc := s.document()
	fd := f.document()
	fd["state"] = string(state)
	doc["flags"].(map[string]any)[key] = fd
	return rebuild(doc, key)
}

// WithWeights returns a copy of s in which the fractional split of the flag
// named key has weights, keeping its bucketing expression; s itself is not
// changed. The flag's targeting must hold exactly one fractional, outside
// any shared $evaluators rule; the weights, at least one, must name
// variants of the flag and none may be negative. Each refusal is a
// [*ValidationError] naming the flag and field, or an error wrapping
// [ErrNotFound].
func (s *Set) WithWeights(key string, weights []Weight) (*Set, error) {
	f, err := s.writable(key)
	if err != nil {
		return nil, err
	}
	if len(weights) == 0 {
		return nil, refuseWrite(key, "targeting", "no weights given")
	}
	entries := make([]any, len(weights))
	for i, w := range weights {
		if w.Weight < 0 {
			return nil, refuseWrite(key, "targeting", "the weight of variant %q is negative", w.Variant)
		}
		if _, ok := f.variants[w.Variant]; !ok {
			var ps problems
			ps.add(key, "targeting", "fractional names variant %q, which is not one of the variants (%s)", w.Variant, variantNames(f.variants))
			return nil, &ValidationError{Problems: ps}
		}
		entries[i] = []any{w.Variant, float64(w.Weight)}
	}
	var found int
	targeting := replaceFractional(f.rawTargeting, entries, &found)
	switch {
	case found == 0:
		return nil, refuseWrite(key, "targeting", "holds no fractional split of its own")
	case found > 1:
		return nil, refuseWrite(key, "targeting", "holds %d fractional splits; set the weights by replacing the definition", found)
	}
	doc := s.document()
	fd := f.document()
	fd["targeting"] = targeting
	doc["flags"].(map[string]any)[key] = fd
	return rebuild(doc, key)
}

// refuseWrite is the error of a write whose new value the flag cannot take.
func refuseWrite(key, field, format string, args ...any) error {
	var ps problems
	ps.add(key, field, format, args...)
	return &ValidationError{Problems: ps}
}

// replaceFractional copies rule with the variant list of each fractional
// replaced by entries, counting them in found. $ref rules are shared with
// other flags and are left alone.
func replaceFractional(rule any, entries []any, found *int) any {
	switch x := rule.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			if k == "fractional" && len(x) == 1 {
				if args, ok := v.([]any); ok {
					*found++
					bucketBy, hasBucketBy, _ := splitArgs(args)
					var next []any
					if hasBucketBy {
						next = append(next, bucketBy)
					}
					out[k] = append(next, entries...)
					continue
				}
			}
			out[k] = replaceFractional(v, entries, found)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = replaceFractional(v, entries, found)
		}
		return out
	}
	return rule
}
