package release

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/httpjson"
)

//go:embed web
var webFiles embed.FS

// PageCSP is the Content-Security-Policy of every response of a [Page]:
// its own scripts, styles and images only, no inline script or style, no
// frames, no form posts, connections to its own origin alone.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// CSRFHeader is the request header that carries a [Page]'s CSRF token on
// every write.
const CSRFHeader = "X-Rollsafe-CSRF"

// csrfCookie holds the browser's nonce; the token is its HMAC under the
// page's key, so that a cookie planted by another site cannot be matched
// without the key.
const csrfCookie = "rollsafe_page"

// Page is a web page to watch and steer the releases of a [Controller]
// and the flags of a [flagstore.Store]: the current release's plan, with
// its step, weights, measurements, verdict and charts; past releases with
// their outcome; every flag with its state, split and audit trail; every
// live instance with the flag revision it serves. It updates live over
// server-sent events and offers the actions (promote, pause, resume,
// abort; kill, revive, set weights) its authorizers allow, each asking for
// a reason.
//
// Everything it serves is embedded: it needs no build step and no network
// beyond its own origin. It is an [http.Handler] whose paths are relative
// to where it is mounted ([Page.Mount] does the mounting):
//
//	GET  /                          the page, with the state it opens on
//	GET  /assets/...                its script and style sheet
//	GET  /api/state                 the state the page draws (JSON)
//	GET  /api/events                server-sent events: "versions" whenever the flags, the releases or the fleet change
//	GET  /api/charts/{id}/{metric}.svg?attempt=N   a chart of a release's error-rate or latency measurements
//	/api/releases...                the routes of [NewHandler], under the release authorizer
//	/api/flags..., /api/history     the routes of [flagstore.NewHandler], under the flag authorizer
//
// Every response carries [PageCSP] and refuses to be framed. Every write
// needs, besides its authorizer's yes, the page's CSRF token in
// [CSRFHeader] (the page sends it; a page of another site cannot read it),
// and is refused when the browser says it comes from another site.
//
// Reads go through the authorizers too: a caller that may not list the
// releases (release [ActionList]) sees none of them and none of the
// instances; one that may not list the flags (flagstore
// [flagstore.ActionList]) sees no flag, and one refused
// [flagstore.ActionHistory] no audit trail. A refused section is absent
// from the state, not only hidden, and neither a flag's value nor an
// error's text reaches such a caller. To learn which buttons to draw, the
// page asks the authorizers with the request of the page itself, for each
// action on each release and flag: an action refused has no button (a
// read-only page has none at all); the write, when it comes, is decided
// again by the handler.
//
// Live updates cost the database the same whatever the number of open
// pages: one watch of the store (its poll, or the store's [flagstore.Notifier])
// and one look at the release ledger and the registry per poll interval
// ([WithPagePollInterval]), shared by every open page, running only while
// a page is open; and every page is served one snapshot of the state
// until those versions change, or 2 s pass. Each stream carries only the
// versions of what its caller may read. A page whose stream drops
// reconnects, then reads the state again.
type Page struct {
	c              *Controller
	store          *flagstore.Store
	authorize      Authorizer
	authorizeFlags flagstore.Authorizer
	cfg            pageConfig
	mux            *http.ServeMux
	index          *template.Template
	assets         fs.FS
	feed           *feed

	now     func() time.Time // the snapshots' clock
	snapMu  sync.Mutex
	last    *snapshot // the latest snapshot read whole
	reading *snapRead // the read under way, if any
	snapGen int       // raised by every write through the page
}

// PageOption configures a [Page].
type PageOption func(*pageConfig) error

type pageConfig struct {
	key     []byte
	poll    time.Duration
	history int
	title   string
}

// WithPageCSRFKey sets the key the page signs its CSRF tokens with, at
// least 32 bytes. Default: a random key of each Page, so that a token
// works only on the instance that served the page; give every instance
// the same key when a load balancer may send a page's writes to another.
func WithPageCSRFKey(key []byte) PageOption {
	return func(c *pageConfig) error {
		if len(key) < 32 {
			return fmt.Errorf("CSRF key of %d bytes: give at least 32", len(key))
		}
		c.key = append([]byte(nil), key...)
		return nil
	}
}

// WithPagePollInterval sets how often the shared feed looks at the release
// ledger and the registry while a page is open. Default 1 s; at least
// 100 ms. Flag changes come from the store's watch, at its own pace.
func WithPagePollInterval(d time.Duration) PageOption {
	return func(c *pageConfig) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("page poll interval %v is shorter than 100ms", d)
		}
		c.poll = d
		return nil
	}
}

// WithPageHistory sets how many records of the flags' audit trail the
// page opens on (it loads older ones on request). Default 100; less than
// [flagstore.MaxHistoryLimit].
func WithPageHistory(n int) PageOption {
	return func(c *pageConfig) error {
		if n < 1 || n >= flagstore.MaxHistoryLimit {
			return fmt.Errorf("page history of %d records: give 1 to %d", n, flagstore.MaxHistoryLimit-1)
		}
		c.history = n
		return nil
	}
}

// WithPageTitle sets the page's title. Default "rollsafe".
func WithPageTitle(title string) PageOption {
	return func(c *pageConfig) error {
		if strings.TrimSpace(title) == "" {
			return errors.New("empty page title")
		}
		c.title = title
		return nil
	}
}

// NewPage returns the page of c's releases and store's flags. authorize
// decides the release actions, as for [NewHandler]; authorizeFlags the
// flag actions, as for [flagstore.NewHandler]. The instances are those of
// the Controller's [Instances] (none when it has none). Neither authorizer
// may be nil: a page that should only show passes authorizers that refuse
// every write. NewPage does no I/O; [Page.Close] ends its live streams.
func NewPage(c *Controller, store *flagstore.Store, authorize Authorizer, authorizeFlags flagstore.Authorizer, opts ...PageOption) (*Page, error) {
	switch {
	case c == nil:
		return nil, errors.New("release: page: nil controller")
	case store == nil:
		return nil, errors.New("release: page: nil flag store")
	case authorize == nil || authorizeFlags == nil:
		return nil, errors.New("release: page: nil authorizer: the page refuses to serve without one for releases and one for flags")
	}
	p := &Page{c: c, store: store, authorize: authorize, authorizeFlags: authorizeFlags,
		cfg: pageConfig{poll: time.Second, history: 100, title: "rollsafe"}, now: time.Now}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("release: page: nil option")
		}
		if err := o(&p.cfg); err != nil {
			return nil, fmt.Errorf("release: page: %w", err)
		}
	}
	if p.cfg.key == nil {
		p.cfg.key = make([]byte, 32)
		_, _ = rand.Read(p.cfg.key) // crypto/rand.Read never fails
	}
	releases, err := NewHandler(c, authorize)
	if err != nil {
		return nil, err
	}
	flagsAPI, err := flagstore.NewHandler(store, authorizeFlags)
	if err != nil {
		return nil, fmt.Errorf("release: page: %w", err)
	}
	p.index, err = template.ParseFS(webFiles, "web/index.html")
	if err != nil {
		return nil, fmt.Errorf("release: page: %w", err)
	}
	if p.assets, err = fs.Sub(webFiles, "web/assets"); err != nil {
		return nil, fmt.Errorf("release: page: %w", err)
	}
	p.feed = newFeed(c, store, p.cfg.poll)

	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /{$}", p.serveIndex)
	p.mux.HandleFunc("GET /assets/{file}", p.serveAsset)
	p.mux.HandleFunc("GET /api/state", p.serveState)
	p.mux.HandleFunc("GET /api/events", p.serveEvents)
	p.mux.HandleFunc("GET /api/charts/{id}/{chart}", p.serveChart)
	api := http.StripPrefix("/api", p.guard(releases))
	p.mux.Handle("/api/releases", api)
	p.mux.Handle("/api/releases/", api)
	api = http.StripPrefix("/api", p.guard(flagsAPI))
	p.mux.Handle("/api/flags", api)
	p.mux.Handle("/api/flags/", api)
	p.mux.Handle("/api/history", api)
	return p, nil
}

// ServeHTTP serves the page and its API, with [PageCSP] and the headers
// that keep it out of frames and caches.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setHeaders(w, r)
	p.mux.ServeHTTP(w, r)
}

func setHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/assets/") {
		h.Set("Cache-Control", "no-store")
	}
}

// serveAsset serves one embedded file; there is no listing of them.
func (p *Page) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if fi, err := fs.Stat(p.assets, name); err != nil || fi.IsDir() {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, p.assets, name)
}

// Mount serves the page under prefix on mux ("/admin" serves it at
// /admin/, and /admin redirects there); an empty prefix or "/" mounts it
// at the root. mux is an [http.ServeMux], or any router whose Handle
// method reads a pattern ending in "/" as that whole subtree, as
// ServeMux does. A prefix must be a clean path: it starts with "/", has
// no "." or ".." segment and no empty one, and holds no space, control
// character or any of "{}%?#" (no method, host, wildcard or escape).
func (p *Page) Mount(mux interface{ Handle(string, http.Handler) }, prefix string) error {
	trimmed := strings.TrimSuffix(prefix, "/")
	if prefix != "" && prefix != "/" && (!strings.HasPrefix(prefix, "/") || path.Clean(trimmed) != trimmed ||
		strings.ContainsFunc(prefix, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("{}%?#", r) })) {
		return fmt.Errorf("release: page: mount prefix %q: give a clean path such as /admin", prefix)
	}
	prefix = trimmed
	if prefix == "" {
		mux.Handle("/", p)
		return nil
	}
	mux.Handle(prefix+"/", http.StripPrefix(prefix, p))
	redirect := http.RedirectHandler(prefix+"/", http.StatusSeeOther)
	mux.Handle(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w, r)
		redirect.ServeHTTP(w, r)
	}))
	return nil
}

// Close ends the page's live streams and the feed behind them; the page
// still answers its other requests, and a page that connects again starts
// the feed again.
func (p *Page) Close() error {
	p.feed.close()
	return nil
}

// guard lets reads through to h and lets a write through only with the
// page's CSRF token from a page of this site.
func (p *Page) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		if err := p.checkWrite(r); err != nil {
			httpjson.Write(w, http.StatusForbidden, errorBody{Error: "release: page: " + err.Error()})
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status < 300 {
			p.forget()
		}
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (p *Page) checkWrite(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errors.New("a write from another site is refused")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("a write from another origin is refused")
		}
	}
	c, err := r.Cookie(csrfCookie)
	token := r.Header.Get(CSRFHeader)
	if err != nil || token == "" || !hmac.Equal([]byte(token), []byte(p.token(c.Value))) {
		return errors.New("the request has no valid CSRF token (" + CSRFHeader + "); reload the page")
	}
	return nil
}

// token is the CSRF token of the browser whose cookie holds nonce.
func (p *Page) token(nonce string) string {
	m := hmac.New(sha256.New, p.cfg.key)
	m.Write([]byte("rollsafe page csrf\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// nonce returns the browser's nonce, setting a new one when it has none
// that could be ours.
func (p *Page) nonce(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 22 {
		if _, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return v
}

type indexData struct {
	Title string
	CSRF  string
	State template.JS
}

func (p *Page) serveIndex(w http.ResponseWriter, r *http.Request) {
	st := p.state(r, p.reads(r))
	b, err := json.Marshal(st)
	if err != nil {
		p.fail(w, r, "draw the page", err)
		return
	}
	// json.Marshal escapes <, > and &, so the state cannot end its
	// script element.
	var page bytes.Buffer
	if err := p.index.Execute(&page, indexData{Title: p.cfg.title, CSRF: p.token(p.nonce(w, r)), State: template.JS(b)}); err != nil {
		p.fail(w, r, "draw the page", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page.Bytes())
}

// serveState answers the state the caller may see: 403 when it may read
// nothing, 200 otherwise, with "problems" naming the sections that could
// not be read.
func (p *Page) serveState(w http.ResponseWriter, r *http.Request) {
	can := p.reads(r)
	if !can.releases && !can.flags {
		httpjson.Write(w, http.StatusForbidden, errorBody{Error: "release: page: you may read neither the releases nor the flags"})
		return
	}
	httpjson.Write(w, http.StatusOK, p.state(r, can))
}

func (p *Page) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	p.c.cfg.logger.ErrorContext(r.Context(), "release: page request failed", "op", op, "path", r.URL.Path, "err", err)
	httpjson.Write(w, http.StatusInternalServerError, errorBody{Error: "release: page: " + op + " failed; the server's log says why"})
}
