package release_test

import (
	"errors"
	"fmt"

	"github.com/rollsafe/rollsafe/release"
)

func ExampleParsePlan() {
	p, err := release.ParsePlan([]byte(`
id: orders-summary-v2
flags:
  - {key: orders-summary-v2, baseline: "off", canary: "on"}
steps:
  - weights: {orders-summary-v2: 5}
    bake: 30s
  - weights: {orders-summary-v2: 100}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.ID, len(p.Steps), "steps, the first baking", p.Steps[0].Bake)

	_, err = release.ParsePlan([]byte(`
id: orders-summary-v2
flags:
  - {key: orders-summary-v2, baseline: "off", canary: "on"}
steps:
  - weights: {orders-summary-v2: 120}
    bake: 30
`))
	fmt.Println(errors.Is(err, release.ErrInvalidPlan))
	fmt.Println(err)
	// Output:
	// orders-summary-v2 2 steps, the first baking 30s
	// true
	// release: plan: steps[0].bake: duration 30 is not a string such as "30s"
	// release: plan: steps[0].weights["orders-summary-v2"]: 120 is above 100
}
