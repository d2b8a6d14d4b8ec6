package main

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// envOFREPToken holds the token that callers from other hosts send (as
// "Authorization: Bearer TOKEN" or "X-API-Key: TOKEN") to read the
// service's flags over OFREP at /ofrep/.
const envOFREPToken = "ORDERS_OFREP_TOKEN"

// ofrepHandler serves the service's flags over OFREP, so that a service in
// another language (any OpenFeature SDK's OFREP provider) sees the same
// flags with the same bucketing. With $ORDERS_OFREP_TOKEN set every caller
// must present that token; without it only callers on this host are
// answered (others get 403), which suits a sidecar or a local demo.
func ofrepHandler(provider openfeature.FeatureProvider, events openfeature.IEventing, logger *slog.Logger) (*ofrep.Handler, http.Handler, error) {
	opts := []ofrep.Option{ofrep.WithLogger(logger), ofrep.WithEvents(events)}
	token := os.Getenv(envOFREPToken)
	if token != "" {
		opts = append(opts, ofrep.WithAuthorizer(func(_ *http.Request, credential string) error {
			if subtle.ConstantTimeCompare([]byte(credential), []byte(token)) != 1 {
				return errors.New("not the token of $" + envOFREPToken)
			}
			return nil
		}))
	}
	h, err := ofrep.NewHandler(provider, opts...)
	if err != nil {
		return nil, nil, err
	}
	if token != "" {
		return h, h, nil
	}
	loopbackOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	return h, loopbackOnly, nil
}
