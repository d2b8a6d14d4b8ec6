package health

import (
	"net/http"
)

// ContentType is the media type of the JSON body.
const ContentType = "application/health+json"

// Handler serves the report of kind at whatever path the caller mounts it:
// use it on a router whose Handle method differs from [Mux]'s, at paths other
// than /livez, /readyz and /healthz, or to serve one report alone (a
// sidecar port with readiness only). [Checker.Mount] is the three of them at
// their usual paths.
//
// A GET or HEAD answers 200 when the status is pass or warn and 503 when it
// is fail, with an application/health+json body
// (draft-inadarei-api-health-check-06) and "Cache-Control: no-store". Other
// methods get 405.
//
// Query parameters, as Kubernetes probes use them:
//
//   - verbose: a plain-text body instead, a line per check ("[+]db ok",
//     "[-]db failed: reason withheld") and the verdict ("readyz check passed").
//   - exclude=NAME, repeatable: leave the named check out. The draining entry
//     cannot be excluded.
//
// Outputs, error texts, observed values and component fields are shown only
// to requests that the [WithAuthorizer] func admits. A kind other than
// [Liveness], [Readiness] and [All] serves as All.
func (c *Checker) Handler(kind Kind) http.Handler {
	kind = kind.orAll()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serve(kind, w, r) })
}

// Mux is what [Checker.Mount] mounts on: [http.ServeMux] and routers such as
// chi have this method.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount mounts the three reports at their usual paths, the ones Kubernetes
// probes expect: [Checker.Handler] of [Liveness] at /livez, of [Readiness]
// at /readyz and of [All] at /healthz. It is what most services want; use
// Handler for other paths or routers.
func (c *Checker) Mount(mux Mux) {
	for _, k := range []Kind{Liveness, Readiness, All} {
		mux.Handle("/"+k.String(), c.Handler(k))
	}
}

func (c *Checker) serve(kind Kind, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var exclude []string
	verbose := false
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		_, verbose = q["verbose"]
		exclude = q["exclude"]
	}
	details := c.cfg.authorize != nil && c.cfg.authorize(r)

	g := c.getGathered()
	defer c.putGathered(g)
	c.gather(r.Context(), kind, exclude, g)

	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if verbose {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		g.buf = c.appendVerbose(g.buf, kind, g, details)
	} else {
		h.Set("Content-Type", ContentType)
		g.buf = c.appendBody(g.buf, g, details)
	}
	code := http.StatusOK
	if g.status == Fail {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(g.buf) // the client went away; nothing to do
	}
}
