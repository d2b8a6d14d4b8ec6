package release_test

import (
	"fmt"
	"time"

	"github.com/rollsafe/rollsafe/release"
)

func ExampleMeasureErrorRate() {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := release.Window{
		Flag:     "checkout",
		From:     now.Add(-30 * time.Second),
		To:       now,
		Canary:   release.Arm{Calls: 1500, Errors: 78},
		Baseline: release.Arm{Calls: 1500, Errors: 15},
	}
	m := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, now)
	fmt.Println(m.Phase)
	fmt.Println(m.Reason)

	// Too few calls in an arm: never Successful, whatever the rates.
	w.Canary = release.Arm{Calls: 40, Errors: 0}
	m = release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, now)
	fmt.Println(m.Phase, m.Starved)
	fmt.Println(m.Reason)
	// Output:
	// Failed
	// canary 5.2% (78/1500) vs baseline 1.0% (15/1500), margin 1.0 pt: mSPRT Λ=3.6e+04 ≥ 1000
	// Inconclusive true
	// canary 0.0% (0/40) vs baseline 1.0% (15/1500), margin 1.0 pt: too few calls, 100 per arm needed
}

func ExampleJudge() {
	plan := &release.Plan{
		ID:    "checkout-v2",
		Flags: []release.FlagSpec{{Key: "checkout", Baseline: "v1", Canary: "v2"}},
		Steps: []release.Step{
			{Weights: map[string]int{"checkout": 10}},
			{Weights: map[string]int{"checkout": 50}},
		},
		Analysis: release.Analysis{Latency: &release.LatencyMetric{Disabled: true}},
	}
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	look := func(sec int, canaryErrors, canaryCalls, baselineErrors, baselineCalls uint64) release.Measurement {
		w := release.Window{
			Flag:     "checkout",
			Canary:   release.Arm{Calls: canaryCalls, Errors: canaryErrors},
			Baseline: release.Arm{Calls: baselineCalls, Errors: baselineErrors},
		}
		m := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, start.Add(time.Duration(sec)*time.Second))
		m.Step = 1
		return m
	}

	var ms []release.Measurement
	for _, m := range []release.Measurement{
		look(1, 0, 50, 1, 50),         // too few calls: holds
		look(4, 3, 200, 2, 200),       // within the margin: passes
		look(30, 40, 1500, 14, 1500),  // above the margin, not proven: holds
		look(60, 150, 3000, 30, 3000), // proven: fails
	} {
		ms = append(ms, m)
		v := release.Judge(plan, 1, ms)
		fmt.Println(v.Outcome, "-", v.Reason)
	}
	// Output:
	// hold - step 2 holds: error-rate of checkout: Inconclusive, too few samples
	// pass - step 2: every expected metric Successful (1)
	// hold - step 2 holds: error-rate of checkout: Inconclusive
	// fail - error-rate of checkout: more than 0 Failed (step 2): canary 5.0% (150/3000) vs baseline 1.0% (30/3000), margin 1.0 pt: mSPRT Λ=1.1e+09 ≥ 1000
}
