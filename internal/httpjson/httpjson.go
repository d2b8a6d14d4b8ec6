// Package httpjson reads and writes the JSON bodies of the admin handlers:
// one object in, refused unless it is application/json, and one object out,
// never cached.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// Decode reads the JSON body of r into v: one object, no unknown field, at
// most max bytes. On error it returns the status to answer with it: 415
// for a body that is not application/json, 413 for one over max, 400 for
// the rest.
func Decode(w http.ResponseWriter, r *http.Request, v any, max int64) (int, error) {
	// A browser may send a cross-site form, a text/plain body or one with
	// no type at all (fetch with a Blob, mode no-cors) with the user's
	// cookies; it cannot send application/json across sites without asking
	// first. Requiring that type keeps such a request from writing.
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return http.StatusUnsupportedMediaType, errors.New("the request has no Content-Type: send application/json")
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, fmt.Errorf("the request body is %q: send application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Anything after the object is refused too: a body is one value.
		var extra json.RawMessage
		if err = dec.Decode(&extra); err == nil {
			return http.StatusBadRequest, errors.New("the request body holds more than one JSON value")
		}
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, errors.New("the request body is empty: it is a JSON object")
	}
	return http.StatusBadRequest, fmt.Errorf("the request body: %w", err)
}

// Write answers v as JSON with status. v is encoded before anything is
// written, so that a value that does not encode is still a clean 500,
// with {"error": ...}.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encode the response: " + err.Error()})
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
