package release_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/release"
)

// The page of a service's releases and flags, mounted at /admin/ beside
// its other routes: the people on the service's own host may act, as
// "ops"; everyone else is refused, and sees nothing.
func ExampleNewPage() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "page-example-")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, _ := flagstore.New(db, dialect.SQLite)
	_, err = store.Import(ctx, []byte(`{"flags": {"checkout-v2": {"state": "ENABLED",
		"variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`),
		flagstore.Change{Actor: "setup", Reason: "the new checkout ships dark"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctl, _ := release.NewController(db, dialect.SQLite, store, nil)

	local := func(r *http.Request) (string, error) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return "", errors.New("only from this host")
		}
		return "ops", nil
	}
	page, err := release.NewPage(ctl, store,
		func(r *http.Request, _ release.Action, _ string) (string, error) { return local(r) },
		func(r *http.Request, _ flagstore.Action, _ string) (string, error) { return local(r) })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer page.Close()
	mux := http.NewServeMux()
	if err := page.Mount(mux, "/admin"); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/admin/")
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, res.Header.Get("Content-Type"))
	fmt.Println(res.Header.Get("Content-Security-Policy") == release.PageCSP)
	// Output:
	// 200 text/html; charset=utf-8
	// true
}
