package release

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// DefaultPrometheusTimeout bounds each query of a [PrometheusMetric] whose
// Timeout is 0.
const DefaultPrometheusTimeout = 5 * time.Second

// StatisticRatio names the statistic of a Prometheus measurement judged
// by [PrometheusMetric.MaxRatio]: canary / baseline.
const StatisticRatio = "ratio"

// MeasurePrometheus takes one measurement of m during step (0-based): it
// runs m.Canary and then, when given, m.Baseline as instant queries at now
// against the Prometheus server at m.Address, each bounded by m.Timeout (0
// means [DefaultPrometheusTimeout]) and by ctx. client makes the HTTP
// requests; nil means client_golang's default round tripper. The
// measurement's Metric is m.Name, its Flag empty, its At now, its Critical
// m.Critical.
//
// Each query must answer exactly one number: a scalar, or an instant
// vector of one sample. The phase is
//
//   - [PhaseError] when a query cannot be run or its answer is not one
//     number: an unreachable server, an HTTP or PromQL error, a timeout, a
//     NaN or an infinity, several series, a range vector, a string or a
//     native histogram. The Reason names the query and what was wrong. A
//     NaN is an error, not a lack of data, because a query that divides by
//     a rate that may be 0 should filter it out (`> 0`, as below), which
//     turns an idle window into no data rather than 0/0;
//   - [PhaseInconclusive] with Starved set when a query answers an empty
//     vector. That is how Prometheus says there was nothing to measure
//     (no calls on the arm in the window, series not scraped yet), and no
//     data is never success: the step holds, as it does on too few
//     samples, without counting toward [Analysis.InconclusiveLimit], until
//     data comes or [Plan.StepTimeout] ends the wait. A query that matches
//     nothing at all, such as one with a misspelt metric name, therefore
//     holds the step until its timeout rather than erring at once;
//   - [PhaseFailed] when m.Max > 0 and canary > m.Max, or when m.MaxRatio >
//     0, a baseline is given and canary > baseline × m.MaxRatio. The rule
//     applies as written when the baseline is 0: any canary above 0 fails,
//     since a ratio to nothing gives no allowance. A query that wants one
//     floors its baseline, such as clamp_min(<baseline query>, 0.001);
//   - [PhaseSuccessful] otherwise (a metric with neither Max nor MaxRatio
//     is always Successful once its queries answer).
//
// The baseline is queried only once the canary has answered a number, and
// every query given must answer one for a verdict: a failing baseline
// query makes the measurement an Error even when the canary alone is above
// Max. Canary and Baseline hold the values; when the ratio test applies
// and the baseline is not 0, Statistic is canary / baseline and
// StatisticName [StatisticRatio]. CanaryCalls and BaselineCalls stay 0:
// Prometheus does not say how many calls a value stands for. Warnings and
// informational notes that Prometheus returns with an answer are added to
// the Reason.
//
// # Queries for the Switch's metrics
//
// The OpenTelemetry metrics of a [flags.Switch] (see
// [flags.MetricSwitchCalls]), exported through OpenTelemetry's Prometheus
// exporter as the example service does at /metrics, are the counters
// rollsafe_flags_switch_calls_total and rollsafe_flags_switch_errors_total
// and the histogram rollsafe_flags_switch_duration_seconds, labelled with
// feature_flag_key and rollsafe_switch_path ("new" is the canary arm, "old"
// the baseline; the calls counter has rollsafe_switch_cause as well). For
// the example service's flag, the error ratio of the canary arm over the
// last minute is
//
//	(sum(rate(rollsafe_flags_switch_errors_total{feature_flag_key="orders-summary-v2",rollsafe_switch_path="new"}[1m])) or vector(0))
//	/
//	(sum(rate(rollsafe_flags_switch_calls_total{feature_flag_key="orders-summary-v2",rollsafe_switch_path="new"}[1m])) > 0)
//
// and that of the baseline arm the same with rollsafe_switch_path="old".
// `or vector(0)` is there because a path that never failed has no errors
// series at all; `> 0` turns a window without calls into no data. Its 99th
// percentile latency, in seconds, is
//
//	histogram_quantile(0.99, sum by (le) (rate(rollsafe_flags_switch_duration_seconds_bucket{feature_flag_key="orders-summary-v2",rollsafe_switch_path="new"}[1m])))
//	and
//	(sum(rate(rollsafe_flags_switch_duration_seconds_count{feature_flag_key="orders-summary-v2",rollsafe_switch_path="new"}[1m])) > 0)
//
// where the `and` clause again makes a window without timed calls no data
// rather than a NaN. Give the ranges ([1m]) at least four scrape
// intervals, and a metric such as the error ratio a Max (an absolute
// ceiling) or a MaxRatio against the baseline arm's query.
func MeasurePrometheus(ctx context.Context, m PrometheusMetric, client *http.Client, step int, now time.Time) Measurement {
	ms := Measurement{Metric: m.Name, Step: step, At: now, Critical: m.Critical}
	fail := func(reason string) Measurement {
		ms.Phase, ms.Reason = PhaseError, reason
		return ms
	}
	if m.Canary == "" {
		return fail("no canary query")
	}
	if m.Address == "" {
		return fail("no Prometheus address")
	}
	c, err := api.NewClient(api.Config{Address: m.Address, Client: client})
	if err != nil {
		// The parse error would repeat the address, password included.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fail(fmt.Sprintf("Prometheus address: %v", err))
	}
	timeout := m.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultPrometheusTimeout
	}
	q := prometheusQuerier{api: v1.NewAPI(c), now: now, timeout: timeout}

	var notes []string
	withNotes := func(reason string) string {
		if len(notes) == 0 {
			return reason
		}
		return reason + "; " + strings.Join(notes, "; ")
	}
	canary := q.query(ctx, "canary", m.Canary)
	notes = append(notes, canary.notes...)
	switch {
	case canary.err != "":
		return fail(withNotes(canary.err))
	case !canary.found:
		ms.Phase, ms.Starved = PhaseInconclusive, true
		ms.Reason = withNotes(fmt.Sprintf("canary query %s: no data", quoteQuery(m.Canary)))
		return ms
	}
	ms.Canary = &canary.value
	var baseline prometheusAnswer
	if m.Baseline != "" {
		baseline = q.query(ctx, "baseline", m.Baseline)
		notes = append(notes, baseline.notes...)
		switch {
		case baseline.err != "":
			return fail(withNotes(baseline.err))
		case !baseline.found:
			ms.Phase, ms.Starved = PhaseInconclusive, true
			ms.Reason = withNotes(fmt.Sprintf("canary %s; baseline query %s: no data", num(canary.value), quoteQuery(m.Baseline)))
			return ms
		}
		ms.Baseline = &baseline.value
	}

	ms.Phase = PhaseSuccessful
	var verdicts []string
	if m.Max > 0 {
		if canary.value > m.Max {
			ms.Phase = PhaseFailed
			verdicts = append(verdicts, fmt.Sprintf("canary %s > max %s", num(canary.value), num(m.Max)))
		} else {
			verdicts = append(verdicts, fmt.Sprintf("canary %s ≤ max %s", num(canary.value), num(m.Max)))
		}
	}
	if m.MaxRatio > 0 && ms.Baseline != nil {
		limit := baseline.value * m.MaxRatio
		cmp := "≤"
		if canary.value > limit {
			ms.Phase, cmp = PhaseFailed, ">"
		}
		v := fmt.Sprintf("canary %s %s baseline %s × %s", num(canary.value), cmp, num(baseline.value), num(m.MaxRatio))
		if ratio := canary.value / baseline.value; baseline.value != 0 && !math.IsInf(ratio, 0) && !math.IsNaN(ratio) {
			ms.Statistic, ms.StatisticName = ratio, StatisticRatio
			v += fmt.Sprintf(" (ratio %s)", num(ratio))
		}
		verdicts = append(verdicts, v)
	}
	if len(verdicts) == 0 {
		verdicts = append(verdicts, fmt.Sprintf("canary %s, no limit", num(canary.value)))
		if ms.Baseline != nil {
			verdicts[0] = fmt.Sprintf("canary %s, baseline %s, no limit", num(canary.value), num(baseline.value))
		}
	}
	ms.Reason = withNotes(strings.Join(verdicts, "; "))
	return ms
}

// prometheusQuerier runs the instant queries of one measurement.
type prometheusQuerier struct {
	api     v1.API
	now     time.Time
	timeout time.Duration
}

// prometheusAnswer is one query's number, or why there is none: err is a
// line for the Reason; found is false when the answer was empty.
type prometheusAnswer struct {
	value float64
	found bool
	err   string
	notes []string
}

// errQueryTimeout is the cause of a query's end at its timeout, which
// tells it from the end of the caller's context.
var errQueryTimeout = errors.New("query timeout")

// maxSeriesShown bounds the series named when a query answers several.
const maxSeriesShown = 3

// query runs expr, the arm's query ("canary" or "baseline").
func (q prometheusQuerier) query(ctx context.Context, arm, expr string) prometheusAnswer {
	ctx, cancel := context.WithTimeoutCause(ctx, q.timeout, errQueryTimeout)
	defer cancel()
	value, warnings, infos, err := q.api.Query(ctx, expr, q.now)
	var a prometheusAnswer
	for _, w := range warnings {
		a.notes = append(a.notes, fmt.Sprintf("%s query warning: %s", arm, oneLine(w)))
	}
	for _, i := range infos {
		a.notes = append(a.notes, fmt.Sprintf("%s query info: %s", arm, oneLine(i)))
	}
	wrong := func(format string, args ...any) prometheusAnswer {
		a.err = fmt.Sprintf("%s query %s: ", arm, quoteQuery(expr)) + fmt.Sprintf(format, args...)
		return a
	}
	if err != nil {
		var apiErr *v1.Error
		switch {
		case errors.Is(context.Cause(ctx), errQueryTimeout):
			return wrong("timed out after %v", q.timeout)
		case ctx.Err() != nil:
			return wrong("stopped: %v", context.Cause(ctx))
		case errors.As(err, &apiErr):
			return wrong("%s", oneLine(apiErr.Error()))
		default:
			return wrong("%s", oneLine(err.Error()))
		}
	}
	var v model.SampleValue
	switch value := value.(type) {
	case *model.Scalar:
		v = value.Value
	case model.Vector:
		switch len(value) {
		case 0:
			return a
		case 1:
		default:
			shown := make([]string, 0, maxSeriesShown)
			for _, s := range value[:min(len(value), maxSeriesShown)] {
				shown = append(shown, s.Metric.String())
			}
			more := ""
			if len(value) > maxSeriesShown {
				more = ", …"
			}
			return wrong("%d series, not one: %s%s", len(value), strings.Join(shown, ", "), more)
		}
		if value[0].Histogram != nil {
			return wrong("a native histogram, not a number")
		}
		v = value[0].Value
	case model.Matrix:
		return wrong("a range vector, not one number")
	default:
		return wrong("an answer of type %T, not one number", value)
	}
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return wrong("%v, not a number to compare", f)
	}
	a.value, a.found = f, true
	return a
}

// quoteQuery quotes a query for a Reason, on one line.
func quoteQuery(expr string) string {
	return fmt.Sprintf("%q", expr)
}

// oneLine keeps a message from Prometheus on one line of the Reason.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// num formats a value for a Reason.
func num(f float64) string {
	return fmt.Sprintf("%.6g", f)
}
