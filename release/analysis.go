package release

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// StatisticName values of the built-in metrics' measurements.
const (
	// StatisticMSPRT names the mixture sequential probability ratio of an
	// error-rate measurement, or of a latency ceiling judged alone.
	StatisticMSPRT = "mSPRT likelihood ratio"
	// StatisticMannWhitney names the one-sided always-valid p-value of
	// the Mann-Whitney U test of a latency measurement.
	StatisticMannWhitney = "Mann-Whitney U always-valid p-value"
)

// maxLogLR caps the logarithm of a likelihood ratio, so that the ratio
// stays finite (a measurement is stored as JSON, which has no infinity).
const maxLogLR = 700

// msprt is the one-sided mixture sequential probability ratio test of
// H0: θ ≤ delta against θ > delta, where est is the estimate of θ and v its
// variance, with a normal mixing distribution of standard deviation tau
// centred on delta (Johari, Pekelis and Walsh, "Always valid inference",
// 2017):
//
//	Λ = sqrt(v/(v+τ²)) · exp((est−delta)² τ² / (2v(v+τ²)))
//
// Under H0 the probability that Λ ever reaches 1/α, however often it is
// looked at while the samples grow, is at most α: that is what lets a
// measurement be taken every second on a growing window. For est ≤ delta
// there is no evidence against H0 and the ratio is its value at
// est = delta, below 1.
func msprt(est, delta, v, tau float64) float64 {
	s := v + tau*tau
	logLR := 0.5 * math.Log(v/s)
	if d := est - delta; d > 0 {
		logLR += d * d * tau * tau / (2 * v * s)
	}
	return math.Exp(min(logLR, maxLogLR))
}

// smoothedVariance is the variance of the estimate of a proportion of
// errors out of n, taken at the Jeffreys estimate (errors+½)/(n+1) rather
// than errors/n, so that an arm with no error (or nothing but errors) has a
// variance above zero: 0 errors out of 100 are not proof of a rate of 0.
func smoothedVariance(errors, n float64) float64 {
	p := (errors + 0.5) / (n + 1)
	return p * (1 - p) / n
}

// normalSF is the standard normal survival function P(Z > z).
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// orDefault is v when it is in (0, limit), or def.
func orDefault(v, def, limit float64) float64 {
	if v > 0 && v < limit {
		return v
	}
	return def
}

// effectiveMinSamples is n, or [DefaultMinSamples] when n ≤ 0.
func effectiveMinSamples(n int) uint64 {
	if n <= 0 {
		return DefaultMinSamples
	}
	return uint64(n)
}

// appendPercent appends a fraction as a percentage with one decimal: "5.2%".
func appendPercent(b []byte, f float64) []byte {
	return append(strconv.AppendFloat(b, f*100, 'f', 1, 64), '%')
}

// appendRate appends "5.2% (13/250)".
func appendRate(b []byte, rate float64, errors, calls uint64) []byte {
	b = append(appendPercent(b, rate), " ("...)
	b = append(strconv.AppendUint(b, errors, 10), '/')
	b = strconv.AppendUint(b, calls, 10)
	return append(b, ')')
}

// appendLR appends before, "mSPRT Λ=2.1e+03", op, the threshold ("1000")
// and after.
func appendLR(b []byte, before string, lr float64, op string, threshold float64, after string) []byte {
	b = append(b, before...)
	b = append(b, "mSPRT Λ="...)
	b = strconv.AppendFloat(b, lr, 'g', 2, 64)
	b = append(b, op...)
	b = strconv.AppendFloat(b, threshold, 'g', 4, 64)
	return append(b, after...)
}

// sci formats a statistic in short scientific form: "2.1e+03".
func sci(f float64) string {
	return strconv.FormatFloat(f, 'g', 2, 64)
}

// limit formats a test's threshold: "1000".
func limit(f float64) string {
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// seconds formats a latency in seconds as a rounded duration: "12.346ms".
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Second:
		d = d.Round(time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Microsecond)
	default:
		d = d.Round(10 * time.Nanosecond)
	}
	return d.String()
}

// quantileName is "p99" for 0.99, "p99.9" for 0.999.
func quantileName(q float64) string {
	return fmt.Sprintf("p%.4g", q*100)
}

func ptr(f float64) *float64 { return &f }
