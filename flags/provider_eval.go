package flags

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
)

// Error codes the provider returns, and when:
//
//   - FLAG_NOT_FOUND: the definitions hold no flag of that key.
//   - TYPE_MISMATCH: the flag's variants are of another type than the call
//     asks for, or an Int evaluation chose a number that is not whole.
//   - PARSE_ERROR: the flag's definition is invalid and the provider never had
//     a valid one of it, or the provider has no definitions because the
//     source's first document was refused whole.
//   - PROVIDER_NOT_READY: before Init has received definitions (or the source
//     could not be read at all), and after Shutdown.
//   - GENERAL: the targeting rule failed at run time, returned something
//     that is not a variant name, or named a variant the flag lacks.
//
// TARGETING_KEY_MISSING is never returned: as in flagd, a fractional split
// without a targeting key falls back to the default variant.

func (p *Provider) resolve(key string, want Kind, flat openfeature.FlattenedContext) result {
	set := p.set.Load()
	if set == nil {
		return p.notReady()
	}
	if len(set.invalid) > 0 {
		if r, ok := set.invalidResult(key); ok {
			return r
		}
	}
	return set.evaluate(key, want, flat, p.cfg.now)
}

func (p *Provider) notReady() result {
	if errp := p.noSet.Load(); errp != nil {
		if errors.Is(*errp, ErrInvalid) {
			return failure(openfeature.NewParseErrorResolutionError("flag definitions refused: " + strings.TrimPrefix((*errp).Error(), prefix)))
		}
		return failure(openfeature.NewProviderNotReadyResolutionError("no flag definitions: " + strings.TrimPrefix((*errp).Error(), prefix)))
	}
	return failure(openfeature.NewProviderNotReadyResolutionError("flag definitions not loaded: the provider is not initialised"))
}

func (r result) detail() openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{
		ResolutionError: r.err,
		Reason:          r.reason,
		Variant:         r.variant,
		FlagMetadata:    r.metadata,
	}
}

func mismatch(key string, r result, want string) result {
	out := failure(openfeature.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q: variant %q is not %s", key, r.variant, want)))
	out.metadata = r.metadata
	return out
}

// BooleanEvaluation implements openfeature.FeatureProvider.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, defaultValue bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	r := p.resolve(flag, KindBool, flat)
	v := defaultValue
	if r.value != nil {
		v = r.value.(bool) // the kind check guarantees the type
	}
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// StringEvaluation implements openfeature.FeatureProvider.
func (p *Provider) StringEvaluation(_ context.Context, flag string, defaultValue string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	r := p.resolve(flag, KindString, flat)
	v := defaultValue
	if r.value != nil {
		v = r.value.(string)
	}
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// FloatEvaluation implements openfeature.FeatureProvider. Whole-number
// variants answer too.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, defaultValue float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	r := p.resolve(flag, KindNumber, flat)
	v := defaultValue
	if r.value != nil {
		f, ok := asFloat(r.value)
		if !ok {
			r = mismatch(flag, r, "a number")
		} else {
			v = f
		}
	}
	return openfeature.FloatResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// IntEvaluation implements openfeature.FeatureProvider. A chosen variant that
// is not a whole number is a TYPE_MISMATCH.
func (p *Provider) IntEvaluation(_ context.Context, flag string, defaultValue int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	r := p.resolve(flag, KindNumber, flat)
	v := defaultValue
	if r.value != nil {
		i, ok := asInt(r.value)
		if !ok {
			r = mismatch(flag, r, "a whole number")
		} else {
			v = i
		}
	}
	return openfeature.IntResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// ObjectEvaluation implements openfeature.FeatureProvider. The value is a
// map[string]any shared between evaluations: do not change it.
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, defaultValue any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	r := p.resolve(flag, KindObject, flat)
	v := defaultValue
	if r.value != nil {
		v = r.value
	}
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// Evaluate answers the flag named key whatever its type, as a server of a
// remote evaluation protocol (OFREP) must, not knowing what the caller's
// code expects: the value is a bool, string, int64 or float64 (as the
// variant was written), or a map[string]any shared between evaluations (do
// not change it). It is nil where the caller's default applies: a DISABLED
// flag, one without a default variant that no rule matched, and every
// error (ResolutionError says which).
func (p *Provider) Evaluate(_ context.Context, key string, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	r := p.resolve(key, 0, flat)
	return openfeature.InterfaceResolutionDetail{Value: r.value, ProviderResolutionDetail: r.detail()}
}

// Evaluation is one flag's answer from [Provider.EvaluateAll].
type Evaluation struct {
	Key string
	openfeature.InterfaceResolutionDetail
}

// EvaluateAll answers every flag of the definitions the provider serves,
// sorted by key, as [Provider.Evaluate] answers each, all from the same
// definitions even while they change, and returns their revision
// ([Provider.Revision]). Invalid flags with no last good definition are
// among them, answering PARSE_ERROR. Before the first definitions arrive,
// and after Shutdown, it returns no evaluations and a PROVIDER_NOT_READY
// (or PARSE_ERROR) openfeature.ResolutionError.
func (p *Provider) EvaluateAll(_ context.Context, flat openfeature.FlattenedContext) (int64, []Evaluation, error) {
	set := p.set.Load()
	if set == nil {
		return 0, nil, p.notReady().err
	}
	keys := set.Keys()
	for k := range set.invalid {
		if set.flags[k] == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]Evaluation, len(keys))
	for i, k := range keys {
		r, ok := set.invalidResult(k)
		if !ok {
			r = set.evaluate(k, 0, flat, p.cfg.now)
		}
		out[i] = Evaluation{Key: k, InterfaceResolutionDetail: openfeature.InterfaceResolutionDetail{Value: r.value, ProviderResolutionDetail: r.detail()}}
	}
	return set.revision, out, nil
}
