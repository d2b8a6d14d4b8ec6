package flags

import (
	"context"
	"errors"
	"fmt"
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
