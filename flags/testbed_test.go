package flags_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cucumber/godog"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

// flagd's evaluator test suite, copied unchanged from open-feature/flagd-testbed
// (see testdata/flagd-testbed/NOTICE.txt): the Gherkin features that flagd's
// providers in every language run, and the flag file they run against.
const (
	testbedDir      = "testdata/flagd-testbed/evaluator"
	testbedFlagFile = testbedDir + "/flags/testkit-flags.json"
	testbedFeatures = testbedDir + "/gherkin"
)

// testbedTags selects the cases run. Every feature of the suite is about the
// in-process evaluator (none is tagged for flagd's RPC or sync transports), so
// only one tag is left out: @fractional-v1 examples describe flagd's legacy
// bucketing (abs(hash) / MaxInt32 × 100), which flagd itself has replaced by
// the @fractional-v2 one rollsafe implements ((hash × total weight) >> 32).
// Both sets of examples use the same flags and contexts and expect different
// variants, so only one of them can pass.
const testbedTags = "~@fractional-v1"

// The testbed's size: the cases run (every example row of every scenario but
// the excluded ones) and the @fractional-v1 ones left out.
const (
	testbedCases    = 125
	testbedExcluded = 15
)

// TestFlagdTestbed runs flagd's evaluator suite in-process against a Provider
// over the suite's whole flag file, read by a FileSource as a user's file is,
// through the OpenFeature SDK.
func TestFlagdTestbed(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(testbedFlagFile)
	require.NoError(t, err)
	path := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	client, err := testbedClient(t, path)
	// One of its flags is invalid (a $ref to no evaluator); the others load.
	require.NoError(t, err, "the provider refused the testbed's flag file")

	res := runTestbed(t, func(string) *openfeature.Client { return client })
	t.Logf("flagd testbed: %d passed, %d failed, %d excluded (@fractional-v1)", res.passed(), len(res.failed), res.excluded)
	for _, name := range slices.Sorted(maps.Keys(res.failed)) {
		t.Logf("failed: %s: %s", name, res.failed[name])
	}

	checkTestbed(t, res)
}

// TestFlagdTestbedEachFlagAlone runs the same suite with each flag of the file
// loaded alone (with the file's $evaluators), as a user trying one flag from
// flagd would: the figure the issue started from.
func TestFlagdTestbedEachFlagAlone(t *testing.T) {
	data, err := os.ReadFile(testbedFlagFile)
	require.NoError(t, err)
	var file map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &file))
	var defs map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(file["flags"], &defs))

	dir := t.TempDir()
	clients := map[string]*openfeature.Client{}
	clientFor := func(key string) *openfeature.Client {
		if c, ok := clients[key]; ok {
			return c
		}
		one := map[string]json.RawMessage{}
		for k, v := range file {
			one[k] = v
		}
		flagsOne := map[string]json.RawMessage{}
		if def, ok := defs[key]; ok {
			flagsOne[key] = def
		}
		var err error
		one["flags"], err = json.Marshal(flagsOne)
		require.NoError(t, err)
		content, err := json.Marshal(one)
		require.NoError(t, err)
		path := filepath.Join(dir, fmt.Sprintf("flag-%d.json", len(clients)))
		require.NoError(t, os.WriteFile(path, content, 0o600))
		c, _ := testbedClient(t, path)
		clients[key] = c
		return c
	}

	res := runTestbed(t, clientFor)
	t.Logf("flagd testbed, each flag loaded alone: %d passed, %d failed, %d excluded (@fractional-v1)", res.passed(), len(res.failed), res.excluded)
	for _, name := range slices.Sorted(maps.Keys(res.failed)) {
		t.Logf("failed alone: %s: %s", name, res.failed[name])
	}
	checkTestbed(t, res)
}

// checkTestbed fails the test for every case that failed, and when the suite
// ran another number of cases than it holds.
func checkTestbed(t *testing.T, res *testbedResult) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(res.failed)) {
		t.Errorf("case failed: %s: %s", name, res.failed[name])
	}
	if got := res.passed() + len(res.failed); got != testbedCases {
		t.Errorf("the testbed ran %d cases, want %d", got, testbedCases)
	}
	if res.excluded != testbedExcluded {
		t.Errorf("the testbed excluded %d cases, want %d", res.excluded, testbedExcluded)
	}
}

// testbedClient registers a Provider over the file at path with an isolated
// OpenFeature API and returns its client, and the error SetProviderAndWait
// returned: a provider that refuses its file is still evaluated, as the
// application holding it would.
func testbedClient(t *testing.T, path string) (*openfeature.Client, error) {
	t.Helper()
	src, err := flags.NewFileSource(path)
	require.NoError(t, err)
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	err = api.SetProviderAndWait(context.Background(), p)
	return api.NewClient(), err
}

type testbedResult struct {
	passedNames []string
	failed      map[string]string // case name → why
	excluded    int
}

func (r *testbedResult) passed() int { return len(r.passedNames) }

// runTestbed runs the suite's features, the client for each case chosen by
// the flag key the case evaluates, and collects which cases passed.
func runTestbed(t *testing.T, clientFor func(flagKey string) *openfeature.Client) *testbedResult {
	t.Helper()
	res := &testbedResult{failed: map[string]string{}}
	var mu sync.Mutex
	seen := map[string]bool{}
	record := func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if seen[name] {
			t.Errorf("two cases have the same name: %s", name)
		}
		seen[name] = true
		if err != nil {
			res.failed[name] = err.Error()
		} else {
			res.passedNames = append(res.passedNames, name)
		}
	}

	suite := godog.TestSuite{
		Name: "flagd-testbed",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			c := &testbedCase{clientFor: clientFor}
			c.register(sc)
			sc.After(func(ctx context.Context, s *godog.Scenario, err error) (context.Context, error) {
				if err == nil && !c.evaluated {
					err = errors.New("the case evaluated nothing")
				}
				record(c.name(s), err)
				return ctx, nil
			})
		},
		Options: &godog.Options{
			Format:   "progress",
			Output:   io.Discard,
			Paths:    []string{testbedFeatures},
			Tags:     testbedTags,
			Strict:   true, // an undefined step fails its case
			NoColors: true,
		},
	}
	status := suite.Run()
	if status != 0 && len(res.failed) == 0 {
		t.Fatalf("godog exited with status %d and no failed case: the features or the step definitions do not fit", status)
	}

	// Count the excluded cases with godog's own tag filter, evaluating nothing.
	excluded := godog.TestSuite{
		Name: "flagd-testbed-excluded",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
				mu.Lock()
				res.excluded++
				mu.Unlock()
				return ctx, nil
			})
			sc.Step(`^.*$`, func() error { return nil })
		},
		Options: &godog.Options{
			Format: "progress",
			Output: io.Discard,
			Paths:  []string{testbedFeatures},
			Tags:   "@fractional-v1",
		},
	}
	require.Zero(t, excluded.Run())
	return res
}

// testbedCase is the state of one scenario (one example row of an outline).
type testbedCase struct {
	clientFor func(string) *openfeature.Client

	flagType  string
	key       string
	fallback  string
	target    string
	hasTarget bool
	attrs     map[string]any
	described []string // the context, as the case's name shows it

	evaluated bool
	value     any
	details   openfeature.InterfaceEvaluationDetails
}

// name names a case by its feature, scenario and inputs: unique for every
// example row, and stable when rows are added or moved.
func (c *testbedCase) name(s *godog.Scenario) string {
	in := []string{c.flagType + " " + c.key + " fallback " + strconv.Quote(c.fallback)}
	in = append(in, c.described...)
	return fmt.Sprintf("%s: %s [%s]", strings.TrimSuffix(filepath.Base(s.Uri), ".feature"), s.Name, strings.Join(in, ", "))
}

func (c *testbedCase) register(sc *godog.ScenarioContext) {
	sc.Step(`^an evaluator$`, func() error { return nil })
	sc.Step(`^a (Boolean|String|Integer|Float|Object)-flag with key "([^"]*)" and a fallback value "(.*)"$`, c.aFlag)
	sc.Step(`^a context containing a key "([^"]*)", with type "(String|Integer|Float|Boolean)" and with value "(.*)"$`, c.contextKey)
	sc.Step(`^a context containing a nested property with outer key "([^"]*)" and inner key "([^"]*)", with value "(.*)"$`, c.contextNested)
	sc.Step(`^a context containing a targeting key with value "(.*)"$`, c.contextTargetingKey)
	sc.Step(`^the flag was evaluated with details$`, c.evaluate)
	sc.Step(`^the resolved details value should be "(.*)"$`, c.valueShouldBe)
	sc.Step(`^the reason should be "([^"]*)"$`, c.reasonShouldBe)
	sc.Step(`^the variant should be "([^"]*)"$`, c.variantShouldBe)
	sc.Step(`^the error-code should be "([^"]*)"$`, c.errorCodeShouldBe)
	sc.Step(`^the resolved metadata should contain$`, c.metadataShouldContain)
	sc.Step(`^the resolved metadata is empty$`, c.metadataIsEmpty)
}

func (c *testbedCase) aFlag(flagType, key, fallback string) error {
	c.flagType, c.key, c.fallback = flagType, key, unescapeCell(fallback)
	return nil
}

func (c *testbedCase) contextKey(key, typ, value string) error {
	v, err := typedValue(typ, value)
	if err != nil {
		return err
	}
	c.setAttr(key, v)
	c.described = append(c.described, fmt.Sprintf("%s=%q (%s)", key, value, typ))
	return nil
}

func (c *testbedCase) contextNested(outer, inner, value string) error {
	c.setAttr(outer, map[string]any{inner: value})
	c.described = append(c.described, fmt.Sprintf("%s.%s=%q", outer, inner, value))
	return nil
}

func (c *testbedCase) contextTargetingKey(value string) error {
	c.target, c.hasTarget = value, true
	c.described = append(c.described, fmt.Sprintf("targetingKey=%q", value))
	return nil
}

func (c *testbedCase) setAttr(key string, v any) {
	if c.attrs == nil {
		c.attrs = map[string]any{}
	}
	c.attrs[key] = v
}

func (c *testbedCase) evaluate(ctx context.Context) error {
	if c.key == "" {
		return errors.New("no flag given before the evaluation")
	}
	evalCtx := openfeature.NewTargetlessEvaluationContext(c.attrs)
	if c.hasTarget {
		evalCtx = openfeature.NewEvaluationContext(c.target, c.attrs)
	}
	client := c.clientFor(c.key)
	def, err := typedValue(c.flagType, c.fallback)
	if err != nil {
		return fmt.Errorf("fallback: %w", err)
	}
	// An evaluation error is part of the answer the steps check (error code,
	// fallback value), not a failure of the step.
	switch c.flagType {
	case "Boolean":
		d, _ := client.BooleanValueDetails(ctx, c.key, def.(bool), evalCtx)
		c.value, c.details = d.Value, openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}
	case "String":
		d, _ := client.StringValueDetails(ctx, c.key, def.(string), evalCtx)
		c.value, c.details = d.Value, openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}
	case "Integer":
		d, _ := client.IntValueDetails(ctx, c.key, def.(int64), evalCtx)
		c.value, c.details = d.Value, openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}
	case "Float":
		d, _ := client.FloatValueDetails(ctx, c.key, def.(float64), evalCtx)
		c.value, c.details = d.Value, openfeature.InterfaceEvaluationDetails{Value: d.Value, EvaluationDetails: d.EvaluationDetails}
	case "Object":
		d, _ := client.ObjectValueDetails(ctx, c.key, def, evalCtx)
		c.value, c.details = d.Value, d
	}
	c.evaluated = true
	return nil
}

// outcome describes the evaluation's answer, for the failure messages.
func (c *testbedCase) outcome() string {
	d := c.details
	s := fmt.Sprintf("value %#v, reason %s, variant %q", c.value, d.Reason, d.Variant)
	if d.ErrorCode != "" {
		msg := d.ErrorMessage
		if len(msg) > 100 {
			msg = msg[:100] + "..."
		}
		s += fmt.Sprintf(", error %s (%s)", d.ErrorCode, msg)
	}
	return s
}

func (c *testbedCase) valueShouldBe(want string) error {
	if !c.evaluated {
		return errors.New("no evaluation")
	}
	w, err := typedValue(c.flagType, unescapeCell(want))
	if err != nil {
		return fmt.Errorf("expected value: %w", err)
	}
	got := c.value
	if c.flagType == "Object" {
		if got, err = jsonRoundTrip(got); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(got, w) {
		return fmt.Errorf("want value %#v, got %s", w, c.outcome())
	}
	return nil
}

func (c *testbedCase) reasonShouldBe(want string) error {
	if string(c.details.Reason) != want {
		return fmt.Errorf("want reason %s, got %s", want, c.outcome())
	}
	return nil
}

func (c *testbedCase) variantShouldBe(want string) error {
	if c.details.Variant != want {
		return fmt.Errorf("want variant %q, got %s", want, c.outcome())
	}
	return nil
}

func (c *testbedCase) errorCodeShouldBe(want string) error {
	if string(c.details.ErrorCode) != want {
		return fmt.Errorf("want error code %s, got %s", want, c.outcome())
	}
	return nil
}

func (c *testbedCase) metadataShouldContain(table *godog.Table) error {
	md := c.details.FlagMetadata
	if len(table.Rows) < 2 {
		return errors.New("metadata table without rows")
	}
	var problems []string
	for _, row := range table.Rows[1:] {
		key, typ, value := row.Cells[0].Value, row.Cells[1].Value, row.Cells[2].Value
		var got any
		var err error
		switch typ {
		case "String":
			got, err = md.GetString(key)
		case "Integer":
			got, err = md.GetInt(key)
		case "Float":
			got, err = md.GetFloat(key)
		case "Boolean":
			got, err = md.GetBool(key)
		default:
			return fmt.Errorf("metadata type %q unknown", typ)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v (metadata %v)", key, err, map[string]any(md)))
			continue
		}
		want, err := typedValue(typ, value)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("%s: want %#v, got %#v", key, want, got))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("metadata: %s; %s", strings.Join(problems, "; "), c.outcome())
	}
	return nil
}

func (c *testbedCase) metadataIsEmpty() error {
	if len(c.details.FlagMetadata) != 0 {
		return fmt.Errorf("want no metadata, got %v", map[string]any(c.details.FlagMetadata))
	}
	return nil
}

// typedValue reads a feature's value as the Go value the SDK answers for the
// type: int64 for Integer, float64 for Float, decoded JSON for Object.
func typedValue(typ, s string) (any, error) {
	switch typ {
	case "String":
		return s, nil
	case "Boolean":
		return strconv.ParseBool(s)
	case "Integer":
		return strconv.ParseInt(s, 10, 64)
	case "Float":
		return strconv.ParseFloat(s, 64)
	case "Object":
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("object %q: %w", s, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("type %q unknown", typ)
}

// unescapeCell undoes the \" the features write inside quoted values.
func unescapeCell(s string) string { return strings.ReplaceAll(s, `\"`, `"`) }

func jsonRoundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}
