package flags

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// switchInstrumentation names the meter of this package.
const switchInstrumentation = "github.com/rollsafe/rollsafe/flags"

// Names of the Switch's OpenTelemetry metrics and of their attributes. Calls
// and errors are counters observed from the Switch's own counts when the
// metrics are collected, so that a call pays nothing for them; duration is a
// histogram of the timed calls (see [PathStats].Timed).
const (
	MetricSwitchCalls            = "rollsafe.flags.switch.calls"
	MetricSwitchErrors           = "rollsafe.flags.switch.errors"
	MetricSwitchDuration         = "rollsafe.flags.switch.duration"
	MetricSwitchStateChanges     = "rollsafe.flags.switch.state_changes"
	MetricSwitchEvaluationErrors = "rollsafe.flags.switch.evaluation_errors"

	// AttrSwitchPath is "new" or "old".
	AttrSwitchPath = "rollsafe.switch.path"
	// AttrSwitchCause says why a call took its path: "flag" (the flag's
	// value), "breaker" (open, or half-open and full), "killed",
	// "evaluation_error" or "retry" (the new path failed; see
	// [WithRetryOnOld]).
	AttrSwitchCause = "rollsafe.switch.cause"
	// AttrSwitchState is the state a Switch changed to.
	AttrSwitchState = "rollsafe.switch.state"
)

// switchDurationBounds are the histogram buckets, in seconds, from 100µs to 10s:
// guarded paths range from in-memory work to remote calls.
var switchDurationBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type pathName int

const (
	pathNew pathName = iota
	pathOld
)

var pathNames = [...]string{"new", "old"}

type callCause int

const (
	causeFlag callCause = iota
	causeBreaker
	causeKilled
	causeEvaluationError
	causeRetry
	numCauses
)

var causeNames = [numCauses]string{"flag", "breaker", "killed", "evaluation_error", "retry"}

// switchMetrics holds the instruments and, so that recording allocates
// nothing, the option slices for every attribute combination, built once.
// Calls and errors are observed from the Switch's own counters when the
// metrics are collected, which keeps them off the call path.
type switchMetrics struct {
	stateChanges, evalErrors metric.Int64Counter
	durationHist             metric.Float64Histogram

	durOpts   [2][]metric.RecordOption
	stateOpts [len(switchStateNames)][]metric.AddOption

	flagAttr attribute.KeyValue
	// evalErrOpts caches the options per error code: the codes are few, and
	// a missing flag fails every call.
	evalErrOpts sync.Map // openfeature.ErrorCode → []metric.AddOption
}

// newSwitchMetrics creates the instruments of the Switch over flag, and
// registers the callback that observes counts. The callback holds counts
// weakly; the caller unregisters it when the Switch goes.
func newSwitchMetrics(mp metric.MeterProvider, flag string, counts *switchCounts) (*switchMetrics, metric.Registration, error) {
	meter := mp.Meter(switchInstrumentation)
	m := &switchMetrics{flagAttr: attribute.String(telemetry.FlagKey, flag)}
	fail := func(name string, err error) (*switchMetrics, metric.Registration, error) {
		return nil, nil, fmt.Errorf("flags: switch %q: metric %s: %w", flag, name, err)
	}
	calls, err := meter.Int64ObservableCounter(MetricSwitchCalls,
		metric.WithDescription("Calls of a flag-guarded path, by path and by why the path was taken."),
		metric.WithUnit("{call}"))
	if err != nil {
		return fail(MetricSwitchCalls, err)
	}
	errs, err := meter.Int64ObservableCounter(MetricSwitchErrors,
		metric.WithDescription("Failed calls of a flag-guarded path (errors and recovered panics), by path."),
		metric.WithUnit("{call}"))
	if err != nil {
		return fail(MetricSwitchErrors, err)
	}
	if m.durationHist, err = meter.Float64Histogram(MetricSwitchDuration,
		metric.WithDescription("Duration of calls of a flag-guarded path, by path (the timed calls: see flags.PathStats.Timed)."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(switchDurationBounds...)); err != nil {
		return fail(MetricSwitchDuration, err)
	}
	if m.stateChanges, err = meter.Int64Counter(MetricSwitchStateChanges,
		metric.WithDescription("State changes of a switch, by the state changed to."),
		metric.WithUnit("{change}")); err != nil {
		return fail(MetricSwitchStateChanges, err)
	}
	if m.evalErrors, err = meter.Int64Counter(MetricSwitchEvaluationErrors,
		metric.WithDescription("Flag evaluations of a switch that returned an error, by error code."),
		metric.WithUnit("{evaluation}")); err != nil {
		return fail(MetricSwitchEvaluationErrors, err)
	}

	var callOpts [2][numCauses]metric.ObserveOption
	var errorOpts [2]metric.ObserveOption
	for p, pn := range pathNames {
		pathAttr := attribute.String(AttrSwitchPath, pn)
		set := attribute.NewSet(m.flagAttr, pathAttr)
		errorOpts[p] = metric.WithAttributeSet(set)
		m.durOpts[p] = []metric.RecordOption{metric.WithAttributeSet(set)}
		for c, cn := range causeNames {
			callOpts[p][c] = metric.WithAttributeSet(
				attribute.NewSet(m.flagAttr, pathAttr, attribute.String(AttrSwitchCause, cn)))
		}
	}
	for st, sn := range switchStateNames {
		m.stateOpts[st] = []metric.AddOption{metric.WithAttributeSet(
			attribute.NewSet(m.flagAttr, attribute.String(AttrSwitchState, sn)))}
	}

	weakCounts := weak.Make(counts)
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := weakCounts.Value()
		if counts == nil {
			return nil
		}
		// Combinations never seen stay out of the export.
		for p := range counts.paths {
			pc := &counts.paths[p]
			for c := range pc.calls {
				if n := pc.calls[c].Load(); n > 0 {
					o.ObserveInt64(calls, int64(n), callOpts[p][c])
				}
			}
			if n := pc.errors.Load(); n > 0 {
				o.ObserveInt64(errs, int64(n), errorOpts[p])
			}
		}
		return nil
	}, calls, errs)
	if err != nil {
		return nil, nil, fmt.Errorf("flags: switch %q: metrics callback: %w", flag, err)
	}
	return m, reg, nil
}

// duration records the duration of a timed call.
func (m *switchMetrics) duration(ctx context.Context, p pathName, d time.Duration) {
	m.durationHist.Record(ctx, d.Seconds(), m.durOpts[p]...)
}

func (m *switchMetrics) stateChange(ctx context.Context, to SwitchState) {
	if int(to) < len(m.stateOpts) {
		m.stateChanges.Add(ctx, 1, m.stateOpts[to]...)
	}
}

func (m *switchMetrics) evaluationError(ctx context.Context, code openfeature.ErrorCode) {
	code = knownErrorCode(code)
	opts, ok := m.evalErrOpts.Load(code)
	if !ok {
		opts, _ = m.evalErrOpts.LoadOrStore(code, []metric.AddOption{metric.WithAttributeSet(
			attribute.NewSet(m.flagAttr, attribute.String(telemetry.ErrorTypeKey, strings.ToLower(string(code)))))})
	}
	m.evalErrors.Add(ctx, 1, opts.([]metric.AddOption)...)
}

// knownErrorCode maps a code outside the OpenFeature specification's list
// to GENERAL, which keeps the metric's attribute values few whatever a
// provider returns.
func knownErrorCode(code openfeature.ErrorCode) openfeature.ErrorCode {
	switch code {
	case openfeature.ProviderNotReadyCode, openfeature.ProviderFatalCode, openfeature.FlagNotFoundCode,
		openfeature.ParseErrorCode, openfeature.TypeMismatchCode, openfeature.TargetingKeyMissingCode,
		openfeature.InvalidContextCode, openfeature.GeneralCode:
		return code
	}
	return openfeature.GeneralCode
}
