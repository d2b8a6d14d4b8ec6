package version

import (
	"fmt"
	"net/http"
	"strconv"
)

// Handler serves a manifest as JSON to GET and HEAD requests, wherever it is
// mounted; peers look for it at [DefaultPath]. It holds the manifest
// encoded once, so serving it costs no encoding.
type Handler struct {
	body []byte
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a Handler for m. An empty m.Version is resolved from the
// build info ([Resolve]); an invalid m is refused with a [*FieldError].
func NewHandler(m Manifest) (*Handler, error) {
	var err error
	if m.Version == "" {
		if m, err = Resolve(m); err != nil {
			return nil, fmt.Errorf("version: handler: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("version: handler: %w", err)
	}
	body, err := m.JSON()
	if err != nil {
		return nil, fmt.Errorf("version: handler: encode manifest: %w", err)
	}
	return &Handler{body: append(body, '\n')}, nil
}

// ServeHTTP answers GET and HEAD with the manifest (application/json,
// not cacheable: a rollback changes it) and anything else with 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(h.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(h.body) // a write error means the client went away
}
