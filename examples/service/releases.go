package main

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/release"
)

// releases is the instance's part in progressive releases: its Recorder
// writes what the Switches counted into the database every second, and its
// Controller drives the releases whenever this instance holds the lease
// (one instance of the fleet at a time; another takes over within the
// lease time when it dies).
//
//	rollsafe release start examples/service/release.yaml --dialect sqlite --dsn /tmp/orders.db
//	rollsafe release status orders-summary-v2 --watch --dialect sqlite --dsn /tmp/orders.db
type releases struct {
	controller *release.Controller
	store      *flagstore.Store
	page       *release.Page
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// startReleases runs the Recorder and the Controller until stop. With
// --flags (a file, not the store) there is nothing to drive: a release
// moves flags in the store; it returns nil then.
func startReleases(cfg config, db *sql.DB, source flags.Source, registry *fleet.Registry, member *fleet.Membership,
	logger *slog.Logger, switches ...release.StatsSource) (*releases, error) {
	store, ok := source.(*flagstore.Store)
	if !ok {
		return nil, nil
	}
	recorder, err := release.NewRecorder(db, cfg.dialect, member.ID(), release.WithRecorderLogger(logger))
	if err != nil {
		return nil, err
	}
	for _, sw := range switches {
		if err := recorder.Track(sw); err != nil {
			return nil, err
		}
	}
	controller, err := release.NewController(db, cfg.dialect, store, registry,
		release.WithInstanceID(member.ID()), release.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &releases{controller: controller, store: store, cancel: cancel}
	for _, run := range []func(context.Context) error{recorder.Run, controller.Run} {
		r.wg.Go(func() {
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("releases", "err", err)
			}
		})
	}
	return r, nil
}

// stop ends the Controller (giving up the lease, so that another instance
// drives at once) and the Recorder (after a last write of its counts).
func (r *releases) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// mount serves the releases at /releases (status, events, start, promote,
// pause, resume, abort) and the page of the releases and flags at /admin/:
// every request needs the token of $ORDERS_ADMIN_TOKEN (Authorization:
// Bearer TOKEN) or, without one set, comes from this host. A browser
// sends no such header by itself: with a token set, the page is for a
// proxy in front that adds it.
func (r *releases) mount(mux *http.ServeMux, token string) error {
	if r == nil {
		return nil
	}
	auth := adminAuthorizer(token)
	h, err := release.NewHandler(r.controller, auth)
	if err != nil {
		return err
	}
	mux.Handle("/releases", h)
	mux.Handle("/releases/", h)
	r.page, err = release.NewPage(r.controller, r.store, auth,
		func(req *http.Request, _ flagstore.Action, _ string) (string, error) { return auth(req, "", "") },
		release.WithPageTitle("orders: releases and flags"))
	if err != nil {
		return err
	}
	return r.page.Mount(mux, "/admin")
}

// closePage ends the page's live streams, which never end by themselves.
func (r *releases) closePage() {
	if r != nil && r.page != nil {
		_ = r.page.Close()
	}
}

// adminAuthorizer lets a caller act as "admin" with the token, or as
// "local" from this host when no token is set; it refuses everyone else.
func adminAuthorizer(token string) release.Authorizer {
	return func(r *http.Request, _ release.Action, _ string) (string, error) {
		if token != "" {
			if subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(token)) == 1 {
				return "admin", nil
			}
			return "", errors.New("send the token of $" + envAdminToken + " as Authorization: Bearer")
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !net.ParseIP(host).IsLoopback() || !loopbackName(r.Host) {
			return "", errors.New("only callers on this host, without $" + envAdminToken)
		}
		return "local", nil
	}
}

// envAdminToken holds the token of the admin routes (/releases writes).
const envAdminToken = "ORDERS_ADMIN_TOKEN"

func bearer(r *http.Request) string {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}

// loopbackName says whether a request's Host names this host: a page of
// another site that resolves its own name to 127.0.0.1 (DNS rebinding)
// sends that name, and is refused.
func loopbackName(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
