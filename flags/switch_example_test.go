package flags_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
)

// exampleClient serves one boolean flag, new-checkout, switched on, through
// this package's Provider over a MemorySource.
func exampleClient(ctx context.Context) (*openfeature.Client, *flags.MemorySource, func()) {
	set, err := flags.Parse([]byte(`{"flags": {"new-checkout": {
		"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`))
	if err != nil {
		log.Fatal(err)
	}
	src := flags.NewMemorySource(set)
	provider, err := flags.NewProvider(src)
	if err != nil {
		log.Fatal(err)
	}
	api := isolated.NewAPI() // a service would use openfeature.SetProviderAndWait
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		log.Fatal(err)
	}
	return api.NewClient(), src, func() { _ = api.Shutdown(ctx) }
}

// A new checkout guarded by a flag: when it starts failing, the breaker
// trips and the old checkout serves, without anyone touching the flag.
func ExampleSwitch() {
	ctx := context.Background()
	client, _, shutdown := exampleClient(ctx)
	defer shutdown()

	checkout, err := flags.NewSwitch[string](client, "new-checkout",
		flags.WithMinCalls(3), // trip after 3 calls if half of them failed
		flags.WithStateListener(func(ev flags.SwitchEvent) {
			fmt.Printf("switch %s: %s -> %s\n", ev.Flag, ev.From, ev.To)
		}))
	if err != nil {
		log.Fatal(err)
	}

	paymentsDown := false
	newCheckout := func(context.Context) (string, error) {
		if paymentsDown {
			return "", errors.New("payments v2: 503")
		}
		return "paid with payments v2", nil
	}
	oldCheckout := func(context.Context) (string, error) { return "paid with payments v1", nil }

	user := openfeature.NewEvaluationContext("user-42", nil)
	for i := range 5 {
		paymentsDown = i > 0
		receipt, err := checkout.Run(ctx, user, newCheckout, oldCheckout)
		fmt.Printf("%d: %q %v\n", i, receipt, err)
	}
	fmt.Println("health:", checkout.Healthy(ctx))
	st := checkout.Stats()
	fmt.Printf("new: %d calls, %d errors; old: %d calls\n", st.New.Calls, st.New.Errors, st.Old.Calls)
	// Output:
	// 0: "paid with payments v2" <nil>
	// 1: "" payments v2: 503
	// switch new-checkout: closed -> open
	// 2: "" payments v2: 503
	// 3: "paid with payments v1" <nil>
	// 4: "paid with payments v1" <nil>
	// health: flags: switch "new-checkout" is open: switch tripped: old path serving
	// new: 3 calls, 2 errors; old: 2 calls
}

// With WithRetryOnOld, a failed call of the new path is made again on the
// old one, so the caller gets an answer; use it for idempotent work only.
func ExampleWithRetryOnOld() {
	ctx := context.Background()
	client, _, shutdown := exampleClient(ctx)
	defer shutdown()

	quote, err := flags.NewSwitch[int](client, "new-checkout", flags.WithRetryOnOld())
	if err != nil {
		log.Fatal(err)
	}
	price, err := quote.Run(ctx, openfeature.EvaluationContext{},
		func(context.Context) (int, error) { panic("index out of range") },
		func(context.Context) (int, error) { return 1200, nil })
	fmt.Println(price, err, quote.Stats().Retried)
	// Output: 1200 <nil> 1
}

// Kill sends this instance's calls to the old path at once; switching the
// flag off in its source does so for every instance that reads it.
func ExampleSwitch_Kill() {
	ctx := context.Background()
	client, src, shutdown := exampleClient(ctx)
	defer shutdown()

	s, err := flags.NewSwitch[string](client, "new-checkout")
	if err != nil {
		log.Fatal(err)
	}
	newPath := func(context.Context) (string, error) { return "new", nil }
	oldPath := func(context.Context) (string, error) { return "old", nil }
	run := func() string {
		out, _ := s.Run(ctx, openfeature.EvaluationContext{}, newPath, oldPath)
		return out
	}

	fmt.Println(run(), s.State())
	s.Kill()
	fmt.Println(run(), s.State(), s.Healthy(ctx))
	s.Revive()
	fmt.Println(run(), s.State())

	// Everywhere: the flag off in its source (a file, or here memory).
	changed := make(chan struct{}, 1)
	onChange := func(openfeature.EventDetails) { changed <- struct{}{} }
	client.AddHandler(openfeature.ProviderConfigChange, &onChange)
	if err := src.SetState(ctx, "new-checkout", flags.Disabled); err != nil {
		log.Fatal(err)
	}
	<-changed
	fmt.Println(run(), s.State())
	// Output:
	// new closed
	// old killed flags: switch "new-checkout": switch killed: old path serving
	// new closed
	// old closed
}
