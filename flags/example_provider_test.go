package flags_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
)

const exampleFlags = `{
  "flags": {
    "new-checkout": {
      "state": "ENABLED",
      "variants": {"on": true, "off": false},
      "defaultVariant": "off",
      "targeting": {
        "if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on",
               {"fractional": [["on", 10], ["off", 90]]}]
      }
    }
  }
}`

// A provider over definitions in memory, registered with an isolated
// OpenFeature API; a service would register it once at start-up.
func ExampleProvider() {
	ctx := context.Background()
	set, err := flags.Parse([]byte(exampleFlags))
	if err != nil {
		fmt.Println(err)
		return
	}
	provider, err := flags.NewProvider(flags.NewMemorySource(set))
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer api.Shutdown(ctx)
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		fmt.Println(err)
		return
	}
	client := api.NewClient()

	for _, user := range []openfeature.EvaluationContext{
		openfeature.NewEvaluationContext("ann", map[string]any{"email": "ann@example.com"}),
		openfeature.NewEvaluationContext("user-7", nil),
		openfeature.NewEvaluationContext("user-9", nil),
		openfeature.NewEvaluationContext("", nil),
	} {
		d, err := client.BooleanValueDetails(ctx, "new-checkout", false, user)
		fmt.Printf("%-8q -> %-5v %-15s %v\n", user.TargetingKey(), d.Value, d.Reason, err)
	}
	// Output:
	// "ann"    -> true  TARGETING_MATCH <nil>
	// "user-7" -> false SPLIT           <nil>
	// "user-9" -> true  SPLIT           <nil>
	// ""       -> false DEFAULT         <nil>
}

// Switching a flag off and widening a rollout through a writable source; a
// database-backed source shared by a fleet offers the same two calls.
func ExampleMemorySource() {
	ctx := context.Background()
	set, err := flags.Parse([]byte(exampleFlags))
	if err != nil {
		fmt.Println(err)
		return
	}
	src := flags.NewMemorySource(set)
	provider, err := flags.NewProvider(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer api.Shutdown(ctx)
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		fmt.Println(err)
		return
	}
	client := api.NewClient()
	user := openfeature.NewEvaluationContext("user-7", nil)

	on, _ := client.BooleanValue(ctx, "new-checkout", false, user)
	fmt.Println("at 10%:", on)

	if err := src.SetWeights(ctx, "new-checkout", []flags.Weight{{Variant: "on", Weight: 1}, {Variant: "off", Weight: 0}}); err != nil {
		fmt.Println(err)
		return
	}
	on, _ = client.BooleanValue(ctx, "new-checkout", false, user)
	fmt.Println("at 100%:", on)

	if err := src.SetState(ctx, "new-checkout", flags.Disabled); err != nil {
		fmt.Println(err)
		return
	}
	d, _ := client.BooleanValueDetails(ctx, "new-checkout", false, user)
	fmt.Println("disabled:", d.Value, d.Reason)
	// Output:
	// at 10%: false
	// at 100%: true
	// disabled: false DISABLED
}

// A provider over a file that operators edit; the file is watched and a bad
// edit is refused while the last good definitions keep serving.
func ExampleFileSource() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flags")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flags.json")
	if err := os.WriteFile(path, []byte(exampleFlags), 0o644); err != nil {
		fmt.Println(err)
		return
	}

	src, err := flags.NewFileSource(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	provider, err := flags.NewProvider(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer api.Shutdown(ctx)
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		fmt.Println(err)
		return
	}
	client := api.NewClient()
	d, err := client.BooleanValueDetails(ctx, "new-checkout", false,
		openfeature.NewEvaluationContext("ann", map[string]any{"email": "ann@example.com"}))
	fmt.Println(d.Value, d.Variant, d.Reason, err)
	// Output:
	// true on TARGETING_MATCH <nil>
}

// Validation names the flag and the field of each problem.
func ExampleParse() {
	_, err := flags.Parse([]byte(`{"flags": {
		"banner": {"state": "ON", "variants": {"a": "x", "b": 2}, "defaultVariant": "c"}
	}}`))
	fmt.Println(err)
	// Output:
	// flags: invalid flag definitions: flag "banner": defaultVariant: "c" is not one of the variants (a); flag "banner": state: "ON" is not ENABLED or DISABLED; flag "banner": variants.b: is a number but variant "a" is a string: all variants of a flag share one type
}

// Each flag is validated on its own: an invalid flag is kept out of the
// set, which loads with the others, and reported by key and field. Only a
// problem of the document itself refuses it whole.
func ExampleParse_invalidFlag() {
	set, err := flags.Parse([]byte(`{"flags": {
		"banner": {"state": "ENABLED", "variants": {"a": "Welcome"}, "defaultVariant": "a"},
		"kill-search": {"state": "DISABLD", "variants": {"on": true, "off": false}}
	}}`))
	var invalid *flags.ValidationError
	fmt.Println(set.Keys(), errors.As(err, &invalid), invalid.Keys())
	for _, p := range set.Problems() {
		fmt.Println(p)
	}

	set, err = flags.Parse([]byte(`{"flags": {"banner": {"state": "ENABLED", "variants": {"a": "Welcome"}}}, "flag": {}}`))
	var refused *flags.DocumentError
	fmt.Println(set == nil, errors.As(err, &refused))
	// Output:
	// [banner] true [kill-search]
	// flag "kill-search": state: "DISABLD" is not ENABLED or DISABLED
	// true true
}

// ParseFile reads a file's content by the name's extension, as a
// FileSource does: YAML for .yaml and .yml, JSON otherwise. A checker of
// flag files lists each problem, as rollsafe flags validate does.
func ExampleParseFile() {
	yml := []byte("flags:\n  banner:\n    state: ENABLED\n    variants: {a: Welcome}\n    defaultVariant: a\n")
	set, err := flags.ParseFile("flags.yaml", yml)
	fmt.Println(set.Keys(), err)

	_, err = flags.ParseFile("flags.json", []byte(`{"flags": {"banner": {"state": "ENABLED", "variants": {}}}}`))
	var invalid *flags.ValidationError
	if errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			fmt.Printf("%s / %s: %s\n", p.Flag, p.Field, p.Message)
		}
	}
	// Output:
	// [banner] <nil>
	// banner / variants: must name at least one variant
}
