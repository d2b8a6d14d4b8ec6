package release_test

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/release"
)

func ExamplePlan_Runbook() {
	p := &release.Plan{
		ID:    "orders-summary-v2",
		Flags: []release.FlagSpec{{Key: "orders-summary-v2", Baseline: "off", Canary: "on"}},
		Steps: []release.Step{
			{Weights: map[string]int{"orders-summary-v2": 10}, Bake: release.Duration(time.Minute)},
			{Weights: map[string]int{"orders-summary-v2": 100}},
		},
	}
	var b strings.Builder
	if err := p.Runbook(&b, release.RunbookOptions{Dialect: "postgres"}); err != nil {
		fmt.Println(err)
		return
	}
	lines := bufio.NewScanner(strings.NewReader(b.String()))
	for i := 0; i < 14 && lines.Scan(); i++ {
		fmt.Println(lines.Text())
	}
	// Output:
	// # Release orders-summary-v2
	//
	// ## What moves
	//
	// | flag | baseline (old path) | canary (new path) |
	// |---|---|---|
	// | `orders-summary-v2` | `off` | `on` |
	//
	// ## Steps
	//
	// | step | canary weights | bake | min samples per arm | approval |
	// |---|---|---|---|---|
	// | 1 | `orders-summary-v2` 10% | 1m | 100 | — |
	// | 2 | `orders-summary-v2` 100% | none | 100 | — |
}
