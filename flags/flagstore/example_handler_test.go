package flagstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
)

// A kill switch thrown over HTTP: the admin handler mounted under /admin,
// an authorizer that names the actor, and the change in the audit trail
// under that actor.
func ExampleNewHandler() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flagstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "flags.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, err := flagstore.New(db, dialect.SQLite)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = store.Import(ctx, []byte(`{"flags": {"orders-summary-v2": {
		"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
		"targeting": {"fractional": [["on", 10], ["off", 90]]}}}}`),
		flagstore.Change{Actor: "ci", Reason: "seed"})
	if err != nil {
		fmt.Println(err)
		return
	}

	admin, err := flagstore.NewHandler(store, func(r *http.Request, action flagstore.Action, key string) (string, error) {
		// A real authorizer checks a session or a signed token, and may
		// admit reads more widely than writes.
		if r.Header.Get("Authorization") != "Bearer ops-token" {
			return "", errors.New("unknown credentials")
		}
		return "alice@example.com", nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/admin/flags/orders-summary-v2/kill",
		strings.NewReader(`{"reason": "error rate up after the deploy", "releaseId": "r42"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Authorization", "Bearer ops-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(resp.Status, " ", string(body))

	recs, err := store.History(ctx, flagstore.Filter{Limit: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := recs[0]
	fmt.Printf("revision %d by %s (%s): %s\n", r.Revision, r.Actor, r.ReleaseID, r.Reason)
	// Output:
	// 200 OK {"revision":2,"keys":["orders-summary-v2"]}
	// revision 2 by alice@example.com (r42): error rate up after the deploy
}
