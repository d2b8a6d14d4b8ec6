package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"time"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/localhost"
	"github.com/rollsafe/rollsafe/release"
)

// uiServer serves the page of --ui: the fleet's releases and flags, with
// their actions, for the people of this host.
type uiServer struct {
	url  string
	srv  *http.Server
	page *release.Page
}

// serveUI serves the page at addr until close. Callers on this host may
// do everything, as the user running the command.
func serveUI(addr string, c *release.Controller, store *flagstore.Store) (*uiServer, error) {
	who := "operator"
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	}
	local := func(r *http.Request) (string, error) {
		if !localhost.Request(r) {
			return "", errors.New("only callers on this host")
		}
		return who, nil
	}
	page, err := release.NewPage(c, store,
		func(r *http.Request, _ release.Action, _ string) (string, error) { return local(r) },
		func(r *http.Request, _ flagstore.Action, _ string) (string, error) { return local(r) },
		release.WithPageTitle("examples/fleet: releases and flags"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ui-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	if err := page.Mount(mux, ""); err != nil {
		return nil, err
	}
	u := &uiServer{url: "http://" + ln.Addr().String() + "/", page: page,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	u.srv.RegisterOnShutdown(func() { _ = page.Close() })
	go func() { _ = u.srv.Serve(ln) }() // Serve returns when close shuts it down
	return u, nil
}

func (u *uiServer) close() {
	if u == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx) // a client still reading at the deadline is cut off
}
