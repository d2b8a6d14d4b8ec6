package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rollsafe/rollsafe/health"
)

// fixedClock makes the "time" of each result predictable.
func fixedClock() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func ExampleNew() {
	c, err := health.New(
		health.WithServiceID("orders"),
		health.WithVersion("1"),
		health.WithReleaseID("1.4.2"),
		health.WithClock(fixedClock),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	rep := c.Check(context.Background(), health.Readiness)
	fmt.Println(rep.Status, len(rep.Checks))
	// Output: pass 0
}

func ExampleChecker_Register() {
	c, err := health.New(health.WithClock(fixedClock))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	err = c.Register("db", func(ctx context.Context) error { return nil },
		health.WithTimeout(2*time.Second), health.WithCacheTTL(time.Second))
	fmt.Println(err)
	err = c.Register("search", func(ctx context.Context) error { return errors.New("connection refused") },
		health.NonCritical())
	fmt.Println(err)
	err = c.Register("db", func(ctx context.Context) error { return nil })
	fmt.Println(errors.Is(err, health.ErrDuplicateCheck))

	rep := c.Check(context.Background(), health.Readiness)
	fmt.Println("overall:", rep.Status)
	for _, r := range rep.Checks {
		fmt.Printf("%s: %s %q\n", r.Name, r.Status, r.Output)
	}
	// Output:
	// <nil>
	// <nil>
	// true
	// overall: warn
	// db: pass ""
	// search: warn "connection refused"
}

func ExampleChecker_RegisterMeasured() {
	c, err := health.New(health.WithClock(fixedClock), health.WithAuthorizer(func(*http.Request) bool { return true }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	err = c.RegisterMeasured("postgres", func(ctx context.Context) (health.Result, error) {
		return health.Result{ObservedValue: 12, ObservedUnit: "connections"}, nil
	}, health.WithMeasurement("connections"), health.WithComponentType("datastore"))
	if err != nil {
		fmt.Println(err)
		return
	}

	rec := httptest.NewRecorder()
	c.Handler(health.Readiness).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Body.String())
	// Output:
	// 200 application/health+json
	// {"status":"pass","checks":{"postgres:connections":[{"status":"pass","componentType":"datastore","observedValue":12,"observedUnit":"connections","time":"2026-01-02T03:04:05Z"}]}}
}

func ExampleChecker_Mount() {
	c, err := health.New(health.WithVersion("1"), health.WithReleaseID("1.4.2"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Register("db", func(ctx context.Context) error { return errors.New("dial tcp: connection refused") }); err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	c.Mount(mux)
	for _, path := range []string{"/livez", "/readyz", "/readyz?verbose", "/readyz?verbose&exclude=db"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Printf("%s %d\n%s\n", path, rec.Code, rec.Body.String())
	}
	// Output:
	// /livez 200
	// {"status":"pass","version":"1","releaseId":"1.4.2","checks":{}}
	// /readyz 503
	// {"status":"fail","version":"1","releaseId":"1.4.2","checks":{"db":[{"status":"fail"}]}}
	// /readyz?verbose 503
	// [-]db failed: reason withheld
	// readyz check failed
	//
	// /readyz?verbose&exclude=db 200
	// readyz check passed
}

// Handler serves one report at a path of the caller's choosing, here on a
// router of its own.
func ExampleChecker_Handler() {
	c, err := health.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	router := http.NewServeMux()
	router.Handle("GET /internal/ready", c.Handler(health.Readiness))
	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/internal/ready", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 200 {"status":"pass","checks":{}}
}

// A check of the process itself serves liveness: LivenessOnly for one that
// says nothing about taking traffic, LivenessAndReadiness for one whose
// failure also means the instance should take none.
func ExampleLivenessOnly() {
	c, err := health.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	ok := func(context.Context) error { return nil }
	for _, err := range []error{
		c.Register("goroutines", ok, health.LivenessOnly()),
		c.Register("deadlock", ok, health.LivenessAndReadiness()),
		c.Register("db", ok),
	} {
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, kind := range []health.Kind{health.Liveness, health.Readiness, health.All} {
		fmt.Println(kind, c.Names(kind))
	}
	// Output:
	// livez [deadlock goroutines]
	// readyz [db deadlock]
	// healthz [db deadlock goroutines]
}

func ExampleChecker_Drain() {
	c, err := health.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	c.Drain()
	ctx := context.Background()
	fmt.Println("liveness:", c.Check(ctx, health.Liveness).Status)
	rep := c.Check(ctx, health.Readiness)
	fmt.Println("readiness:", rep.Status, rep.Checks[0].Name, rep.Output)
	// Output:
	// liveness: pass
	// readiness: fail draining instance is draining
}
