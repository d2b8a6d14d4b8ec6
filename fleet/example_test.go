package fleet_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/version"
)

// serviceDB opens the service's own database: here a SQLite file in a
// temporary directory, which done removes.
func serviceDB() (db *sql.DB, done func()) {
	dir, err := os.MkdirTemp("", "fleet")
	if err != nil {
		panic(err)
	}
	db, err = sql.Open("sqlite", filepath.Join(dir, "service.db"))
	if err != nil {
		panic(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

func ExampleRegistry() {
	db, done := serviceDB()
	defer done()

	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()
	// Each instance of each service does this at start-up; the table is
	// created (or brought up to date) if need be.
	reg, err := fleet.NewRegistry(ctx, db, dialect.SQLite, fleet.WithClock(clock), fleet.WithTTL(30*time.Second))
	if err != nil {
		panic(err)
	}
	if _, err := reg.Register(ctx, "http://10.0.0.2:8080/", version.Manifest{Service: "payments", Version: "1.5.0"}); err != nil {
		panic(err)
	}
	usersID, err := reg.Register(ctx, "http://10.0.0.3:8080/", version.Manifest{Service: "users", Version: "3.1.0", ReleaseID: "r-12"})
	if err != nil {
		panic(err)
	}

	now = now.Add(20 * time.Second)
	flags := int64(7)
	if err := reg.Heartbeat(ctx, usersID, fleet.Status{Ready: true, FlagsRevision: &flags}); err != nil {
		panic(err)
	}
	now = now.Add(20 * time.Second) // payments missed its heartbeats: stale

	ins, err := reg.List(ctx)
	if err != nil {
		panic(err)
	}
	for _, in := range ins {
		fmt.Println(in.Service, in.Version, in.ReleaseID, in.Address, "ready:", in.Ready, "flags revision:", *in.FlagsRevision)
	}
	// Output:
	// users 3.1.0 r-12 http://10.0.0.3:8080/ ready: true flags revision: 7
}

// A Registry is a version.Discovery: the start-up hook negotiates with the
// instances the database lists.
func ExampleRegistry_Join() {
	db, done := serviceDB()
	defer done()
	ctx := context.Background()

	// A payments instance, elsewhere in the fleet.
	elsewhere, err := fleet.NewRegistry(ctx, db, dialect.SQLite)
	if err != nil {
		panic(err)
	}
	if _, err := elsewhere.Register(ctx, "http://10.0.0.2:8080/", version.Manifest{Service: "payments", Version: "2.0.0"}); err != nil {
		panic(err)
	}

	// This orders instance joins, then negotiates with what it finds.
	reg, err := fleet.NewRegistry(ctx, db, dialect.SQLite)
	if err != nil {
		panic(err)
	}
	self := version.Manifest{Service: "orders", Version: "2.4.0", Requires: map[string]string{"payments": "^1.2"}}
	ms, err := reg.Join(ctx, "http://10.0.0.1:8080/", self)
	if err != nil {
		panic(err)
	}
	defer ms.Leave(ctx)
	_, err = version.Startup(ctx, self, reg)
	fmt.Println(err)
	// Output:
	// orders 2.4.0 refused by the refuse policy: payments 2.0.0 at http://10.0.0.2:8080/: incompatible: orders 2.4.0 requires payments "^1.2" but found 2.0.0: 2.0.0 does not have same major version as 1.2
}
