package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
)

// flagDocs returns the definition of every flag of set, as flagd JSON
// objects by key.
func flagDocs(set *flags.Set) (map[string]map[string]any, error) {
	b, err := set.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var doc struct {
		Flags map[string]map[string]any `json:"flags"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	return doc.Flags, nil
}

// split is the fractional split that gives canary pct percent of the
// traffic: baseline first, so that raising the canary's share moves the
// same users over and none back (a user in the canary at 5% is in it at
// 25%).
func split(f FlagSpec, pct int) []flags.Weight {
	return []flags.Weight{{Variant: f.Baseline, Weight: 100 - pct}, {Variant: f.Canary, Weight: pct}}
}

// edit is the store edit that sets f's canary share to pct: new weights
// for the fractional split a flag has, or, for a flag without targeting, a
// definition that adds one. A flag whose targeting is something else is
// refused with ErrFlag: a release would overwrite a rule someone wrote.
func edit(set *flags.Set, docs map[string]map[string]any, f FlagSpec, pct int) (flagstore.Edit, error) {
	doc, ok := docs[f.Key]
	if !ok {
		return flagstore.Edit{}, fmt.Errorf("flag %q is not in the store: %w", f.Key, ErrFlag)
	}
	variants, _ := doc["variants"].(map[string]any)
	for _, v := range []string{f.Baseline, f.Canary} {
		if _, ok := variants[v]; !ok {
			return flagstore.Edit{}, fmt.Errorf("flag %q has no variant %q (it has %v): %w", f.Key, v, variantNames(variants), ErrFlag)
		}
	}
	w := split(f, pct)
	if _, err := set.WithWeights(f.Key, w); err == nil {
		return flagstore.SetWeights(f.Key, w...), nil
	} else if t, has := doc["targeting"]; has && !isEmptyTargeting(t) {
		var ve *flags.ValidationError
		if errors.As(err, &ve) {
			return flagstore.Edit{}, fmt.Errorf("flag %q: its targeting is not a fractional split a release can move (%v): %w", f.Key, err, ErrFlag)
		}
		return flagstore.Edit{}, fmt.Errorf("flag %q: %v: %w", f.Key, err, ErrFlag)
	}
	next := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		next[k] = v
	}
	next["targeting"] = map[string]any{"fractional": []any{
		[]any{f.Baseline, 100 - pct}, []any{f.Canary, pct},
	}}
	b, err := json.Marshal(next)
	if err != nil {
		return flagstore.Edit{}, fmt.Errorf("flag %q: %w", f.Key, err)
	}
	return flagstore.Put(f.Key, b), nil
}

func isEmptyTargeting(t any) bool {
	if t == nil {
		return true
	}
	m, ok := t.(map[string]any)
	return ok && len(m) == 0
}

func variantNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// edits are the store edits that set every flag of p to weights (canary
// percentages by flag); an error names a flag that cannot be moved.
func edits(set *flags.Set, p *Plan, weights map[string]int) ([]flagstore.Edit, error) {
	docs, err := flagDocs(set)
	if err != nil {
		return nil, err
	}
	out := make([]flagstore.Edit, 0, len(p.Flags))
	for _, f := range p.Flags {
		e, err := edit(set, docs, f, weights[f.Key])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// definitions returns the JSON of p's flags in set, by key, for the record
// of what was there before a release.
func definitions(set *flags.Set, p *Plan) (json.RawMessage, error) {
	docs, err := flagDocs(set)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range p.Flags {
		if d, ok := docs[f.Key]; ok {
			out[f.Key] = d
		}
	}
	return json.Marshal(out)
}

// rollbackEdits are the edits that put every flag of p on its baseline,
// and what could not be done as a split, for the ledger. A rollback must
// not fail where a step may: a flag whose split someone replaced by
// another rule, or whose canary variant is gone, gets a definition that
// serves its baseline to everyone (its rule is in the store's ledger, in
// the change's before); a flag no longer in the store, or without its
// baseline variant, is left out — it cannot serve the canary from this
// release's split either.
func rollbackEdits(set *flags.Set, p *Plan) ([]flagstore.Edit, []string, error) {
	docs, err := flagDocs(set)
	if err != nil {
		return nil, nil, err
	}
	var out []flagstore.Edit
	var notes []string
	for _, f := range p.Flags {
		doc, ok := docs[f.Key]
		if !ok {
			notes = append(notes, fmt.Sprintf("%s is no longer in the store", f.Key))
			continue
		}
		if e, err := edit(set, docs, f, 0); err == nil {
			out = append(out, e)
			continue
		}
		variants, _ := doc["variants"].(map[string]any)
		if _, ok := variants[f.Baseline]; !ok {
			notes = append(notes, fmt.Sprintf("%s has no variant %q any more: left as it is", f.Key, f.Baseline))
			continue
		}
		next := make(map[string]any, len(doc))
		for k, v := range doc {
			next[k] = v
		}
		delete(next, "targeting")
		next["defaultVariant"] = f.Baseline
		b, err := json.Marshal(next)
		if err != nil {
			return nil, nil, fmt.Errorf("flag %q: %w", f.Key, err)
		}
		out = append(out, flagstore.Put(f.Key, b))
		notes = append(notes, fmt.Sprintf("%s had no split a release can move: it now serves %q to everyone", f.Key, f.Baseline))
	}
	return out, notes, nil
}
