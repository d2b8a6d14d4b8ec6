package version_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/rollsafe/rollsafe/version"
)

func ExampleParseManifest() {
	m, err := version.ParseManifest([]byte(`{"service": "orders", "version": "2.4.0",
		"requires": {"payments": ">=1.2.0 <2.0.0", "users": "^3"},
		"schema": ">=12 <=15"}`))
	fmt.Println(m.Service, m.Version, m.Requires["payments"], err)

	_, err = version.ParseManifest([]byte(`{"service": "orders", "version": "v2.4"}`))
	fmt.Println(err)
	// Output:
	// orders 2.4.0 >=1.2.0 <2.0.0 <nil>
	// manifest field "version": "v2.4" is not a strict semantic version (MAJOR.MINOR.PATCH): invalid semantic version
}

func ExampleChecker_Check() {
	self := version.Manifest{Service: "orders", Version: "2.4.0",
		Requires: map[string]string{"payments": ">=1.2.0 <2.0.0"}}
	c, err := version.NewChecker(self)
	if err != nil {
		panic(err)
	}
	for _, peer := range []version.Manifest{
		{Service: "payments", Version: "1.7.0", Requires: map[string]string{"orders": "^2"}},
		{Service: "payments", Version: "2.0.0"},
		{Service: "payments", Version: "1.7.0", Requires: map[string]string{"orders": ">=2.5.0"}},
		{Service: "payments", Version: "1.8.0-rc.1"},
	} {
		r := c.Check(peer)
		fmt.Println(r.Verdict, r.Reasons)
	}
	// Output:
	// compatible []
	// incompatible [orders 2.4.0 requires payments ">=1.2.0 <2.0.0" but found 2.0.0: 2.0.0 is greater than or equal to 2.0.0]
	// incompatible [payments 1.7.0 requires orders ">=2.5.0" but we are 2.4.0: 2.4.0 is less than 2.5.0]
	// incompatible [orders 2.4.0 requires payments ">=1.2.0 <2.0.0" but found 1.8.0-rc.1: 1.8.0-rc.1 is a prerelease, which constraints exclude unless prereleases are allowed]
}

// Opting in to prereleases has a trap: the upper bound of ">=1.2.0 <2.0.0"
// no longer keeps out a release candidate of 2.0.0.
func ExampleWithPrereleases() {
	self := version.Manifest{Service: "orders", Version: "2.4.0",
		Requires: map[string]string{"payments": ">=1.2.0 <2.0.0"}}
	c, err := version.NewChecker(self, version.WithPrereleases())
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Check(version.Manifest{Service: "payments", Version: "2.0.0-rc.1"}).Verdict)

	self.Requires["payments"] = ">=1.2.0 <2.0.0-0" // the bound to write when opting in
	if c, err = version.NewChecker(self, version.WithPrereleases()); err != nil {
		panic(err)
	}
	fmt.Println(c.Check(version.Manifest{Service: "payments", Version: "2.0.0-rc.1"}).Verdict)
	// Output:
	// compatible
	// incompatible
}

func ExampleNegotiate() {
	payments, err := version.NewHandler(version.Manifest{Service: "payments", Version: "1.7.0"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(version.DefaultPath, payments)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	self := version.Manifest{Service: "orders", Version: "2.4.0",
		Requires: map[string]string{"payments": "^1.2", "users": "^3"}}
	r, err := version.Negotiate(context.Background(), self, version.URLs(srv.URL+"/"))
	if err != nil {
		panic(err)
	}
	for _, p := range r.Peers {
		fmt.Println(p.Service, p.Version, p.Verdict, p.Reasons)
	}
	// Output:
	// payments 1.7.0 compatible []
	// users  missing [orders requires users "^3" but no peer of users answered]
}

func ExampleStartup() {
	self := version.Manifest{Service: "orders", Version: "2.4.0",
		Requires: map[string]string{"payments": "^1.2"}}
	peers := version.DiscoveryFunc(func(context.Context) ([]version.Peer, error) {
		return []version.Peer{{Source: "payments.json", Manifest: []byte(`{"service":"payments","version":"2.0.0"}`)}}, nil
	})
	monitor, err := version.Startup(context.Background(), self, peers)
	if errors.Is(err, version.ErrIncompatible) {
		fmt.Println(err) // main prints this and exits non-zero
		return
	}
	defer monitor.Close()
	// Output:
	// orders 2.4.0 refused by the refuse policy: payments 2.0.0 at payments.json: incompatible: orders 2.4.0 requires payments "^1.2" but found 2.0.0: 2.0.0 does not have same major version as 1.2
}

func ExampleSchemaCheck() {
	self := version.Manifest{Service: "orders", Version: "2.4.0", Schema: ">=12 <=15"}
	current := func(context.Context) (int64, error) { return 16, nil } // e.g. migrate.Runner's Version
	check, err := version.SchemaCheck(self, current)
	if err != nil {
		panic(err)
	}
	fmt.Println(check(context.Background()))
	// Output:
	// orders 2.4.0 needs a schema version in ">=12 <=15" but the database is at 16: 16.0.0 is greater than 15
}

// httptestServer serves h at path on 127.0.0.1.
func httptestServer(path string, h http.Handler) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	return httptest.NewServer(mux)
}

// The readiness check follows the peers: a monitor negotiates again every
// interval, and an incompatible peer that appears after start-up fails the
// check until it goes away.
func ExampleMonitor_Check() {
	self := version.Manifest{Service: "orders", Version: "2.4.0",
		Requires: map[string]string{"payments": "^1.2"}}
	var mu sync.Mutex
	peers := []version.Peer{{Source: "p1", Manifest: []byte(`{"service":"payments","version":"1.7.0"}`)}}
	discovery := version.DiscoveryFunc(func(context.Context) ([]version.Peer, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(peers), nil
	})
	ctx := context.Background()
	monitor, err := version.Startup(ctx, self, discovery, version.WithInterval(time.Hour))
	if err != nil {
		panic(err)
	}
	defer monitor.Close()
	fmt.Println(monitor.Check(ctx))

	mu.Lock()
	peers = append(peers, version.Peer{Source: "p2", Manifest: []byte(`{"service":"payments","version":"2.0.0"}`)})
	mu.Unlock()
	// What the monitor does every interval, done now.
	if _, err := monitor.Negotiate(ctx); !errors.Is(err, version.ErrIncompatible) {
		panic(err)
	}
	fmt.Println(monitor.Check(ctx))
	// Output:
	// <nil>
	// orders 2.4.0 refused by the refuse policy: payments 2.0.0 at p2: orders 2.4.0 requires payments "^1.2" but found 2.0.0: 2.0.0 does not have same major version as 1.2
}

func ExampleNewHandler() {
	h, err := version.NewHandler(version.Manifest{Service: "orders", Version: "2.4.0", ReleaseID: "r-7"})
	if err != nil {
		panic(err)
	}
	srv := httptestServer(version.DefaultPath, h)
	defer srv.Close()

	m, err := version.Fetch(context.Background(), srv.URL) // a base URL: the path is appended
	fmt.Println(m.Service, m.Version, m.ReleaseID, err)
	// Output:
	// orders 2.4.0 r-7 <nil>
}
