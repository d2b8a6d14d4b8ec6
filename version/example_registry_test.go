package version_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/rollsafe/rollsafe/version"
)

func ExampleRegistry() {
	dir, err := os.MkdirTemp("", "registry")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "service.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()

	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()
	// Each instance of each service does this at start-up; the table is
	// created if it does not exist.
	reg, err := version.NewRegistry(ctx, db, version.SQLite, version.WithClock(clock), version.WithTTL(30*time.Second))
	if err != nil {
		panic(err)
	}
	if _, err := reg.Register(ctx, "http://10.0.0.2:8080/", version.Manifest{Service: "payments", Version: "1.5.0"}); err != nil {
		panic(err)
	}
	usersID, err := reg.Register(ctx, "http://10.0.0.3:8080/", version.Manifest{Service: "users", Version: "3.1.0"})
	if err != nil {
		panic(err)
	}

	now = now.Add(20 * time.Second)
	if err := reg.Heartbeat(ctx, usersID); err != nil {
		panic(err)
	}
	now = now.Add(20 * time.Second) // payments missed its heartbeats: stale

	ins, err := reg.Instances(ctx)
	if err != nil {
		panic(err)
	}
	for _, in := range ins {
		fmt.Println(in.Manifest.Service, in.Manifest.Version, in.Address)
	}
	// Output:
	// users 3.1.0 http://10.0.0.3:8080/
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
