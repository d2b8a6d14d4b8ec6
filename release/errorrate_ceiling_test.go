package release_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// The ceiling test is measured here on windows of a step at 100%, which
// have no baseline: the measurement's statistic is then the ceiling test's
// Λ alone.

// ceilingMeasure measures errors out of calls against the ceiling c at
// alpha (0: the default), needing a single call.
func ceilingMeasure(errors, calls uint64, c, alpha float64) release.Measurement {
	w := release.Window{Flag: "checkout", CanaryOnly: true, Canary: release.Arm{Calls: calls, Errors: errors}}
	return release.MeasureErrorRate(release.ErrorRateMetric{MaxErrorRate: c, Alpha: alpha}, w, 1, at)
}

// ceilingLog is ln Λ of errors out of calls against the ceiling c.
func ceilingLog(errors, calls uint64, c float64) float64 {
	return math.Log(ceilingMeasure(errors, calls, c, 0).Statistic)
}

// ceilingPriorEnd is the upper end of the prior over the rates above c:
// the prior is uniform on (c, min(1, 5c)].
func ceilingPriorEnd(c float64) float64 { return min(1, 5*c) }

// exactCeilingLog is ln Λ of k errors out of n against c, with c taken
// exactly as the float64 it is, in 4,096-bit arithmetic:
//
//	Λ = (F(u) − F(c)) / ((u−c) c^k (1−c)^m),   F(x) = ∫₀ˣ p^k (1−p)^m dp = Σⱼ C(m, j) (−1)^j x^(k+j+1) / (k+j+1)
//
// for m = n−k and u the prior's upper end. The alternating sum's terms are
// below 2^m and F(u) − F(c) above 2^(−8n) here, so that the cancellation
// leaves more than 3,000 bits.
func exactCeilingLog(k, n int, c float64) float64 {
	const prec = 4096
	num := func(v float64) *big.Float { return new(big.Float).SetPrec(prec).SetFloat64(v) }
	m := n - k
	rc := num(c)
	ru := num(1)
	if ceilingPriorEnd(c) < 1 {
		ru.Mul(rc, num(5)) // 5c exactly, as the prior has it
	}
	F := func(x *big.Float) *big.Float {
		sum, pow, binom := num(0), num(1), num(1)
		for range k + 1 {
			pow.Mul(pow, x)
		}
		for j := 0; j <= m; j++ {
			term := num(0).Mul(binom, pow)
			term.Quo(term, num(float64(k+j+1)))
			if j%2 == 1 {
				term.Neg(term)
			}
			sum.Add(sum, term)
			pow.Mul(pow, x)
			binom.Mul(binom, num(float64(m-j)))
			binom.Quo(binom, num(float64(j+1)))
		}
		return sum
	}
	lambda := num(0).Sub(F(ru), F(rc))
	den := num(0).Sub(ru, rc)
	notC := num(0).Sub(num(1), rc)
	for range k {
		den.Mul(den, rc)
	}
	for range m {
		den.Mul(den, notC)
	}
	return floatLog(lambda.Quo(lambda, den))
}

// floatLog is the natural logarithm of a positive big.Float.
func floatLog(f *big.Float) float64 {
	mant := new(big.Float)
	exp := f.MantExp(mant)
	m, _ := mant.Float64()
	return math.Log(m) + float64(exp)*math.Ln2
}

// betaLogTails is the logarithms of the regularized incomplete beta
// function I_x(a, b) and of 1 − I_x(a, b), where y = 1 − x, by the
// continued fraction of Numerical Recipes (§6.4, modified Lentz), which
// converges for x below the mean and is used on the other side through
// I_x(a, b) = 1 − I_y(b, a).
func betaLogTails(a, b, x, y float64) (lower, upper float64) {
	switch {
	case x == 0:
		return math.Inf(-1), 0
	case y == 0:
		return 0, math.Inf(-1)
	case x > (a+1)/(a+b+2):
		u, l := betaLogTails(b, a, y, x)
		return l, u
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := a*math.Log(x) + b*math.Log(y) - (la + lb - lab) - math.Log(a)
	const tiny = 1e-300
	cc, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for i := 1; i < 10_000_000; i++ {
		fi := float64(i)
		for _, aa := range []float64{
			fi * (b - fi) * x / ((a + 2*fi - 1) * (a + 2*fi)),
			-(a + fi) * (a + b + fi) * x / ((a + 2*fi) * (a + 2*fi + 1)),
		} {
			d = 1 + aa*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			cc = 1 + aa/cc
			if math.Abs(cc) < tiny {
				cc = tiny
			}
			d = 1 / d
			h *= d * cc
		}
		if math.Abs(d*cc-1) < 1e-16 {
			break
		}
	}
	lower = front + math.Log(h)
	return lower, math.Log1p(-math.Exp(lower))
}

// betaCeilingLog is ln Λ of k errors out of n against c through the
// regularized incomplete beta function: the integral of p^k (1−p)^m over
// (c, u] is B(k+1, m+1) (I_u − I_c), the difference taken between the tails
// that keep its precision.
func betaCeilingLog(k, n, c float64) float64 {
	m := n - k
	u := ceilingPriorEnd(c)
	a, b := k+1, m+1
	lc, uc := betaLogTails(a, b, c, 1-c)
	lu, uu := betaLogTails(a, b, u, 1-u)
	var diff float64
	switch {
	case lu < -math.Ln2:
		diff = lu + math.Log1p(-math.Exp(lc-lu))
	case uc < -math.Ln2:
		diff = uc + math.Log1p(-math.Exp(uu-uc))
	default:
		diff = math.Log(1 - math.Exp(lc) - math.Exp(uu))
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab + diff - k*math.Log(c) - m*math.Log1p(-c) - math.Log(u-c)
}

// The statistic against exact rational arithmetic for every k at small n,
// where the binomial tail is least normal, and some larger n.
func TestCeilingStatisticExactSmall(t *testing.T) {
	type kn struct{ k, n int }
	var cases []kn
	for _, n := range []int{1, 2, 3, 5, 8, 13, 21, 34} {
		for k := 0; k <= n; k++ {
			cases = append(cases, kn{k, n})
		}
	}
	for _, k := range []int{0, 1, 2, 3, 5, 8, 13, 40, 120} {
		cases = append(cases, kn{k, 120})
	}
	worst := 0.0
	for _, c := range []float64{0.001, 0.01, 0.05, 0.2, 0.5, 0.9} {
		for _, tc := range cases {
			want := exactCeilingLog(tc.k, tc.n, c)
			got := ceilingLog(uint64(tc.k), uint64(tc.n), c)
			require.InDelta(t, want, got, 1e-8, "k=%d n=%d c=%v", tc.k, tc.n, c)
			worst = max(worst, math.Abs(got-want))
		}
	}
	t.Logf("%d cases: largest difference of ln Λ from exact arithmetic %.2g", 6*len(cases), worst)
}

// The statistic against the incomplete beta function at large n, up to
// 1e9, around the ceiling and the prior's end, where the integrand is a
// sliver of the prior.
func TestCeilingStatisticExactLarge(t *testing.T) {
	worst := 0.0
	count := 0
	for _, c := range []float64{0.001, 0.01, 0.05} {
		u := ceilingPriorEnd(c)
		for _, n := range []float64{1e3, 1e4, 1e5, 1e6, 1e7, 1e9} {
			sd := func(p float64) float64 { return math.Sqrt(p * (1 - p) / n) }
			for _, rate := range []float64{0, c / 2, c - 3*sd(c), c - sd(c), c, c + sd(c), c + 3*sd(c), 2 * c, u - 3*sd(u), u, u + 3*sd(u), 6 * c} {
				k := min(max(math.Round(rate*n), 0), n)
				want := betaCeilingLog(k, n, c)
				got := ceilingLog(uint64(k), uint64(n), c)
				if want > 700 {
					assert.InDelta(t, 700.0, got, 1e-12, "k=%v n=%v c=%v: the ratio is capped", k, n, c)
					continue
				}
				// math.Lgamma's rounding, a few ulps of ln Γ(n) ≈ n ln n,
				// limits the reference at the largest n.
				tol := 1e-8 + 1e-15*n*math.Log(n)
				require.InDelta(t, want, got, tol, "k=%v n=%v c=%v", k, n, c)
				worst = max(worst, math.Abs(got-want)/tol)
				count++
			}
		}
	}
	t.Logf("%d cases: largest difference of ln Λ from the incomplete beta function %.2g of the tolerance", count, worst)
}

// Before any call Λ is 1, and the ratio is evidence only: each call
// without an error lowers it, so that a canary without an error never
// fails, however many calls it has and whatever Alpha.
func TestCeilingNoErrors(t *testing.T) {
	m := ceilingMeasure(0, 0, 0.01, 0)
	assert.Equal(t, 1.0, m.Statistic, "Λ before the first call")
	assert.Equal(t, release.PhaseInconclusive, m.Phase)
	assert.True(t, m.Starved)
	for _, c := range []float64{1e-12, 1e-6, 0.001, 0.01, 0.05, 0.2, 0.5, 0.999999} {
		last := 1.0
		for n := uint64(1); n <= 1e12; n = n*3 + 1 {
			m := ceilingMeasure(0, n, c, 0.99)
			assert.Less(t, m.Statistic, last, "c=%v n=%d", c, n)
			assert.Positive(t, m.Statistic, "c=%v n=%d", c, n)
			assert.Equal(t, release.PhaseSuccessful, m.Phase, "c=%v n=%d: %s", c, n, m.Reason)
			last = m.Statistic
		}
	}
}

// More errors in the same calls are more evidence: Λ grows with k at every
// n, until it reaches its cap.
func TestCeilingMonotoneInErrors(t *testing.T) {
	for _, c := range []float64{0.001, 0.01, 0.05, 0.5} {
		for _, n := range []uint64{1, 10, 100, 1000, 1e6, 1e9} {
			step := max(n/2000, 1)
			last := -1.0
			for k := uint64(0); k <= n; k += step {
				s := ceilingMeasure(k, n, c, 0).Statistic
				if last < math.Exp(700) {
					require.Greater(t, s, last, "c=%v n=%d k=%d", c, n, k)
				} else {
					require.Equal(t, last, s, "c=%v n=%d k=%d: capped", c, n, k)
				}
				last = s
			}
		}
	}
}

// Extreme counts and ceilings give finite statistics (a measurement is
// stored as JSON), and the reason keeps the shape operators read.
func TestCeilingExtremes(t *testing.T) {
	for _, c := range []float64{5e-324, 1e-300, 1e-12, 0.01, 0.2, 0.5, 1 - 1e-9, 1 - 0x1p-53} {
		for _, n := range []uint64{1, 2, 1e6, 1e9, 1e12} {
			for _, k := range []uint64{0, 1, n / 2, n - 1, n, 2 * n} {
				m := ceilingMeasure(k, n, c, 0)
				require.False(t, math.IsNaN(m.Statistic) || math.IsInf(m.Statistic, 0), "c=%v n=%d k=%d: %v", c, n, k, m.Statistic)
				require.GreaterOrEqual(t, m.Statistic, 0.0)
				_, err := json.Marshal(m)
				require.NoError(t, err, m.Reason)
			}
		}
	}
	m := ceilingMeasure(50, 1000, 0.01, 0)
	assert.Equal(t, release.PhaseFailed, m.Phase)
	assert.Regexp(t, `^canary 5\.0% \(50/1000\): above the ceiling of 1\.0%, mSPRT Λ=\S+ ≥ 1000$`, m.Reason)
	m = ceilingMeasure(3, 100, 0.01, 0)
	assert.Equal(t, release.PhaseInconclusive, m.Phase)
	assert.Regexp(t, `^canary 3\.0% \(3/100\): above the ceiling of 1\.0%, not proven \(mSPRT Λ=\S+ < 1000\)$`, m.Reason)

	// A ceiling of 100% is no ceiling: nothing is above it.
	m = ceilingMeasure(1000, 1000, 1, 0)
	assert.Equal(t, release.PhaseSuccessful, m.Phase, m.Reason)
	assert.Zero(t, m.Statistic)
}

// oldCeilingLog is ln Λ of the normal-mixture test that the ceiling used
// before: the difference test's formula on the canary alone, with the
// binomial variance at the Jeffreys estimate and τ = 2 × margin.
func oldCeilingLog(k, n, c, margin float64) float64 {
	if n == 0 {
		return math.Inf(-1)
	}
	p := (k + 0.5) / (n + 1)
	v := p * (1 - p) / n
	tau := 2 * margin
	s := v + tau*tau
	l := 0.5 * math.Log(v/s)
	if d := k/n - c; d > 0 {
		l += d * d * tau * tau / (2 * v * s)
	}
	return l
}

// The probability that a canary erring at exactly the ceiling, or below
// it, ever fails within its first calls, looked at after every call (more
// often than the analysis looks), computed exactly by following the
// distribution of its error count call by call. It is at most Alpha; the
// normal mixture's is printed beside it.
func TestCeilingFalseFailureExact(t *testing.T) {
	const calls = 3000
	for _, tc := range []struct{ c, rate, alpha float64 }{
		{0.01, 0.01, 0.01}, {0.01, 0.01, 0.001}, {0.05, 0.05, 0.01}, {0.05, 0.05, 0.001}, {0.01, 0.005, 0.01},
	} {
		t.Run(fmt.Sprintf("ceiling %v%% rate %v%% alpha %v", tc.c*100, tc.rate*100, tc.alpha), func(t *testing.T) {
			// first is the least error count that fails at the current
			// number of calls: from one call to the next it stays or
			// grows by one, since a call without an error lowers Λ and
			// one with an error raises it.
			fails := func(k, n int) bool {
				return ceilingMeasure(uint64(k), uint64(n), tc.c, tc.alpha).Phase == release.PhaseFailed
			}
			prob := make([]float64, calls+2) // prob[k]: not failed yet, k errors
			prob[0] = 1
			first := 1
			var failed float64
			for n := 1; n <= calls; n++ {
				for k := min(n, first); k >= 1; k-- {
					prob[k] = prob[k]*(1-tc.rate) + prob[k-1]*tc.rate
				}
				prob[0] *= 1 - tc.rate
				if first <= n && !fails(first, n) {
					first++
					require.True(t, first > n || fails(first, n), "n=%d: neither %d nor %d errors fail", n, first-1, first)
				}
				require.False(t, fails(first-1, n), "n=%d: %d errors fail, not only %d", n, first-1, first)
				if first <= n {
					failed += prob[first]
					prob[first] = 0
				}
			}
			// The normal mixture on the same distribution: its failing
			// counts are found by trying every count.
			prob = make([]float64, calls+2)
			prob[0] = 1
			var oldFailed float64
			threshold := math.Log(1 / tc.alpha)
			for n := 1; n <= calls; n++ {
				for k := n; k >= 1; k-- {
					prob[k] = prob[k]*(1-tc.rate) + prob[k-1]*tc.rate
				}
				prob[0] *= 1 - tc.rate
				for k := 0; k <= n; k++ {
					if prob[k] != 0 && oldCeilingLog(float64(k), float64(n), tc.c, release.DefaultMargin) >= threshold {
						oldFailed += prob[k]
						prob[k] = 0
					}
				}
			}
			t.Logf("ceiling %v%%, canary at %v%%, alpha %v: P(failed within %d calls, looked at after each) = %.3g; the normal mixture: %.3g",
				tc.c*100, tc.rate*100, tc.alpha, calls, failed, oldFailed)
			assert.LessOrEqual(t, failed, tc.alpha)
			assert.Positive(t, failed, "the test can fail a canary at the ceiling")
		})
	}
}

// BenchmarkCeilingMeasurement is BenchmarkMeasurement with a ceiling on
// the error rate (2%, above the canary's 1.2%): both tests of the error
// rate, the latency and the verdict at one look.
func BenchmarkCeilingMeasurement(b *testing.B) {
	metric := release.ErrorRateMetric{MaxErrorRate: 0.02}
	plan := judgePlan(false, release.Analysis{ErrorRate: &metric})
	w := benchWindow()
	var ms []release.Measurement
	for sec := range 300 {
		for _, m := range []release.Measurement{
			release.MeasureErrorRate(metric, w, 0, at.Add(time.Duration(sec)*time.Second)),
			release.MeasureLatency(release.LatencyMetric{}, w, 0, at.Add(time.Duration(sec)*time.Second)),
		} {
			m.Step = sec / 60
			ms = append(ms, m)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		e := release.MeasureErrorRate(metric, w, 0, at)
		l := release.MeasureLatency(release.LatencyMetric{}, w, 0, at)
		e.Step, l.Step = 4, 4
		ms[len(ms)-2], ms[len(ms)-1] = e, l
		if v := release.Judge(plan, 4, ms); v.Outcome != release.VerdictPass {
			b.Fatal(v.Reason)
		}
	}
}
