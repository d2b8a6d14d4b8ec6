package ofrep

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// credential returns the request's API key (X-API-Key) or bearer token.
func credential(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("X-API-Key")); k != "" {
		return k
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// remoteHost is the host part of r.RemoteAddr, or all of it when it has
// no port.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// admit authorises and rate-limits r, answering it when it may not go on.
// The answers carry no body: why a credential was refused is logged, never
// told.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) bool {
	key := "addr " + remoteHost(r)
	if h.cfg.authorize != nil {
		cred := credential(r)
		status := 0
		if cred == "" {
			status = http.StatusUnauthorized
		} else if err := h.cfg.authorize(r, cred); err != nil {
			h.cfg.logger.InfoContext(r.Context(), "ofrep: credential refused",
				"remote", r.RemoteAddr, "path", r.URL.Path, "error", err)
			status = http.StatusForbidden
		} else {
			key = "cred " + cred
		}
		if status != 0 {
			if !h.allowRate(w, key) {
				return false
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ofrep"`)
			}
			w.WriteHeader(status)
			return false
		}
	}
	return h.allowRate(w, key)
}

// allowRate takes a token from key's limiter, or answers 429.
func (h *Handler) allowRate(w http.ResponseWriter, key string) bool {
	if h.limits == nil {
		return true
	}
	wait := h.limits.take(key, h.cfg.now())
	if wait <= 0 {
		return true
	}
	w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
	w.WriteHeader(http.StatusTooManyRequests)
	return false
}

// limiters holds one token bucket per client, at most max of them. Nothing
// runs in the background: a bucket that has refilled is indistinguishable
// from a new one, so it is dropped when room is needed.
type limiters struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	max       int
	m         map[string]*rate.Limiter
	lastSweep time.Time
}

func newLimiters(limit rate.Limit, burst, max int) *limiters {
	return &limiters{limit: limit, burst: burst, max: max, m: map[string]*rate.Limiter{}}
}

// take spends one token of key's bucket at now and returns 0, or returns
// how long until a token is there (spending nothing).
func (l *limiters) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[key]
	if lim == nil {
		if len(l.m) >= l.max {
			l.makeRoom(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// makeRoom drops the full buckets (at most once a second, since it reads
// them all) and, if none was, one arbitrary bucket: that client starts
// again with a full one, which bounds memory at the cost of some leniency
// under a flood of clients.
func (l *limiters) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for k, lim := range l.m {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.m, k)
			}
		}
		if len(l.m) < l.max {
			return
		}
	}
	for k := range l.m {
		delete(l.m, k)
		return
	}
}
