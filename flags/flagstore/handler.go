package flagstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/httpjson"
)

// Action is what a request to the [NewHandler] handler asks to do; the
// [Authorizer] decides on it.
type Action string

// The actions of the admin handler.
const (
	ActionList    Action = "list"    // GET /flags
	ActionRead    Action = "read"    // GET /flags/{key}
	ActionHistory Action = "history" // GET /history
	ActionKill    Action = "kill"    // POST /flags/{key}/kill
	ActionRevive  Action = "revive"  // POST /flags/{key}/revive
	ActionWeights Action = "weights" // PUT /flags/{key}/weights
	ActionReplace Action = "replace" // PUT /flags/{key}
)

// Authorizer decides each request to the admin handler: action is what it
// asks, key the flag it names (the key query parameter of a history
// request; empty for a list, or a history of every flag). It returns the
// actor the change is recorded under (reads may return any, an empty one
// too), or an error to refuse the request: 403, with the error's text as
// the message. It is called before the request body is read, so that a
// refused caller learns nothing about what it sent.
type Authorizer func(r *http.Request, action Action, key string) (actor string, err error)

// MaxRequestBody is the largest request body the admin handler reads;
// a larger one is refused with 413.
const MaxRequestBody = 1 << 20

// NewHandler returns the admin surface of store over HTTP, JSON in and out,
// to mount where the caller likes (under [http.StripPrefix] too). The paths
// are relative to where it is mounted:
//
//	GET  /flags                  {"revision":N,"flags":{"KEY":{definition}},"invalid":[problem...]}
//	GET  /flags/{key}            {"revision":N,"key":"KEY","definition":{...}}, "invalid" when it does not validate
//	GET  /history?key=&release=&before=&limit=   {"records":[Record...]}, newest first
//	POST /flags/{key}/kill       {"reason":"...","releaseId":"...","baseRevision":N}
//	POST /flags/{key}/revive     likewise
//	PUT  /flags/{key}/weights    {"weights":[{"variant":"on","weight":10},...],"reason":"...",...}
//	PUT  /flags/{key}            {"definition":{flagd flag},"reason":"...",...}: create or replace
//
// Every request goes through authorize first, reads included. A write is
// made by [Store.Apply] under the actor authorize returns, never one the
// body names: a body with an "actor" field is refused, and so is a write
// whose authorizer returns an empty actor. "reason" is required,
// "releaseId" and "baseRevision" (compare-and-swap) are optional; fields
// the route does not know are refused. A write answers
// {"revision":N,"keys":[...]} ([Result]). List and read show the
// definitions as the store holds them; flags that do not validate (rows
// changed by hand) are left out of a list and named in its "invalid".
//
// The order of "weights" is kept: it decides the buckets of a fractional
// split. A flag key holding a '/' is written %2F in the path.
//
// Errors are {"error":"...","problems":[{"flag","field","message"}]}: 400
// for a malformed request or change ([ErrInvalidChange]), 403 refused by
// the authorizer, 404 an unknown flag ([flags.ErrNotFound]), 405 a method
// the path does not take, 409 a stale baseRevision ([ErrConflict], with
// "baseRevision" and "currentRevision"), 413 a body over [MaxRequestBody],
// 415 a write whose Content-Type is not application/json (or is missing:
// a cross-site request can send a body without one), 422 definitions that do not
// validate ([*flags.ValidationError], with its problems). A 500 names the
// operation only: the cause, which may hold what a driver says of its
// database, goes to the store's logger ([WithLogger]).
//
// A nil store or a nil authorize is an error: the handler never serves an
// open door.
func NewHandler(store *Store, authorize Authorizer) (http.Handler, error) {
	if store == nil {
		return nil, errors.New("flagstore: NewHandler: nil store")
	}
	if authorize == nil {
		return nil, errors.New("flagstore: NewHandler: nil authorizer: the admin handler refuses to serve without one")
	}
	h := &handler{store: store, authorize: authorize}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /flags", h.list)
	mux.HandleFunc("GET /flags/{key}", h.read)
	mux.HandleFunc("GET /history", h.history)
	mux.HandleFunc("POST /flags/{key}/kill", h.state(ActionKill, flags.Disabled))
	mux.HandleFunc("POST /flags/{key}/revive", h.state(ActionRevive, flags.Enabled))
	mux.HandleFunc("PUT /flags/{key}/weights", h.weights)
	mux.HandleFunc("PUT /flags/{key}", h.replace)
	return mux, nil
}

type handler struct {
	store     *Store
	authorize Authorizer
}

// problem is a [flags.Problem] on the wire.
type problem struct {
	Flag    string `json:"flag"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func problemsOf(ps []flags.Problem) []problem {
	out := make([]problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, problem{Flag: p.Flag, Field: p.Field, Message: p.Message})
	}
	return out
}

type errorBody struct {
	Error           string    `json:"error"`
	Problems        []problem `json:"problems,omitempty"`
	BaseRevision    *int64    `json:"baseRevision,omitempty"`
	CurrentRevision *int64    `json:"currentRevision,omitempty"`
}

// allow asks the authorizer; when it refuses, allow answers 403 and
// returns false.
func (h *handler) allow(w http.ResponseWriter, r *http.Request, action Action, key string) (string, bool) {
	actor, err := h.authorize(r, action, key)
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "forbidden"
		}
		writeJSON(w, http.StatusForbidden, errorBody{Error: msg})
		return "", false
	}
	return actor, true
}

// snapshot reads the store's rows as they are, and parses them as a
// reader would: set is nil when the document itself is refused, and
// problems name what does not validate.
func (h *handler) snapshot(ctx context.Context) (c *contents, set *flags.Set, problems []flags.Problem, err error) {
	if err := h.store.ensure(ctx); err != nil {
		return nil, nil, nil, err
	}
	c, err = h.store.read(ctx, h.store.db)
	if err != nil {
		return nil, nil, nil, err
	}
	set, perr := c.set()
	var verr *flags.ValidationError
	if perr != nil && !errors.As(perr, &verr) {
		return nil, nil, nil, perr
	}
	if verr != nil {
		problems = verr.Problems
	}
	return c, set, problems, nil
}

type listBody struct {
	Revision int64                      `json:"revision"`
	Flags    map[string]json.RawMessage `json:"flags"`
	Invalid  []problem                  `json:"invalid"`
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.allow(w, r, ActionList, ""); !ok {
		return
	}
	c, set, problems, err := h.snapshot(r.Context())
	if err != nil {
		h.fail(w, r, "list the flags", err)
		return
	}
	out := listBody{Revision: c.revision, Flags: map[string]json.RawMessage{}, Invalid: problemsOf(problems)}
	for _, k := range set.Keys() {
		out.Flags[k] = c.flags[k]
	}
	writeJSON(w, http.StatusOK, out)
}

type readBody struct {
	Revision   int64           `json:"revision"`
	Key        string          `json:"key"`
	Definition json.RawMessage `json:"definition"`
	Invalid    []problem       `json:"invalid,omitempty"`
}

func (h *handler) read(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if _, ok := h.allow(w, r, ActionRead, key); !ok {
		return
	}
	op := fmt.Sprintf("read flag %q", key)
	c, _, problems, err := h.snapshot(r.Context())
	if err != nil {
		h.fail(w, r, op, err)
		return
	}
	def, ok := c.flags[key]
	if !ok {
		h.fail(w, r, op, fmt.Errorf("flagstore: flag %q: %w", key, flags.ErrNotFound))
		return
	}
	if !json.Valid(def) {
		// A row changed by hand into something that is not JSON is shown
		// as a string, as the readers see it.
		def, _ = json.Marshal(string(def)) // a string always encodes
	}
	var own []flags.Problem
	for _, p := range problems {
		if p.Flag == key || p.Flag == "" {
			own = append(own, p)
		}
	}
	out := readBody{Revision: c.revision, Key: key, Definition: def}
	if len(own) > 0 {
		out.Invalid = problemsOf(own)
	}
	writeJSON(w, http.StatusOK, out)
}

type historyBody struct {
	Records []Record `json:"records"`
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, ok := h.allow(w, r, ActionHistory, q.Get("key")); !ok {
		return
	}
	const op = "history"
	for name, vs := range q {
		switch {
		case name != "key" && name != "release" && name != "before" && name != "limit":
			h.badRequest(w, op, fmt.Errorf("unknown query parameter %q (it takes key, release, before, limit)", name))
			return
		case len(vs) > 1:
			h.badRequest(w, op, fmt.Errorf("query parameter %q is given %d times", name, len(vs)))
			return
		}
	}
	f := Filter{Key: q.Get("key"), ReleaseID: q.Get("release")}
	var err error
	if f.Before, err = intParam(q.Get("before"), "before", 0, 1<<62); err != nil {
		h.badRequest(w, op, err)
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", 0, MaxHistoryLimit)
	if err != nil {
		h.badRequest(w, op, err)
		return
	}
	f.Limit = int(limit)
	recs, err := h.store.History(r.Context(), f)
	if err != nil {
		h.fail(w, r, op, err)
		return
	}
	if recs == nil {
		recs = []Record{}
	}
	writeJSON(w, http.StatusOK, historyBody{Records: recs})
}

// intParam reads the integer query parameter name, 0 when it is empty.
func intParam(v, name string, lo, hi int64) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("query parameter %q: %q is not an integer", name, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("query parameter %q: %d is not between %d and %d", name, n, lo, hi)
	}
	return n, nil
}

// presence records that a JSON field was there, whatever its value, null
// included.
type presence bool

func (p *presence) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

// writeFields are the fields of every write's body.
type writeFields struct {
	Reason       string `json:"reason"`
	ReleaseID    string `json:"releaseId"`
	BaseRevision *int64 `json:"baseRevision"`
	// Actor is known only to be refused with a message that says why.
	Actor presence `json:"actor"`
}

func (f *writeFields) fields() *writeFields { return f }

type stateRequest struct {
	writeFields
}

type weight struct {
	Variant string `json:"variant"`
	Weight  int    `json:"weight"`
}

type weightsRequest struct {
	writeFields
	Weights []weight `json:"weights"`
}

type replaceRequest struct {
	writeFields
	Definition json.RawMessage `json:"definition"`
}

type resultBody struct {
	Revision int64    `json:"revision"`
	Keys     []string `json:"keys"`
}

func (h *handler) state(action Action, state flags.State) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req stateRequest
		h.write(w, r, action, &req, func(key string) (Edit, error) { return SetState(key, state), nil })
	}
}

func (h *handler) weights(w http.ResponseWriter, r *http.Request) {
	var req weightsRequest
	h.write(w, r, ActionWeights, &req, func(key string) (Edit, error) {
		if req.Weights == nil {
			return Edit{}, errors.New(`no "weights": the body gives them as [{"variant":"on","weight":10},...]`)
		}
		ws := make([]flags.Weight, len(req.Weights))
		for i, x := range req.Weights {
			ws[i] = flags.Weight{Variant: x.Variant, Weight: x.Weight}
		}
		return SetWeights(key, ws...), nil
	})
}

func (h *handler) replace(w http.ResponseWriter, r *http.Request) {
	var req replaceRequest
	h.write(w, r, ActionReplace, &req, func(key string) (Edit, error) {
		if len(req.Definition) == 0 || bytes.Equal(req.Definition, []byte("null")) {
			return Edit{}, errors.New(`no "definition": the body gives the flag's flagd definition`)
		}
		return Put(key, req.Definition), nil
	})
}

// write serves one write: authorize, read the body into req, make the edit
// and apply it under the authorizer's actor.
func (h *handler) write(w http.ResponseWriter, r *http.Request, action Action, req interface{ fields() *writeFields }, edit func(key string) (Edit, error)) {
	key := r.PathValue("key")
	actor, ok := h.allow(w, r, action, key)
	if !ok {
		return
	}
	op := fmt.Sprintf("%s flag %q", action, key)
	if strings.TrimSpace(actor) == "" {
		writeJSON(w, http.StatusForbidden, errorBody{Error: fmt.Sprintf("flagstore: %s: the authorizer named no actor, and no write is made without one", op)})
		return
	}
	if status, err := decode(w, r, req); err != nil {
		h.refuse(w, status, op, err)
		return
	}
	f := req.fields()
	if f.Actor {
		h.badRequest(w, op, errors.New(`the body names an "actor": the actor comes from the authorizer, never from the request`))
		return
	}
	e, err := edit(key)
	if err != nil {
		h.badRequest(w, op, err)
		return
	}
	res, err := h.store.Apply(r.Context(), Change{Actor: actor, Reason: f.Reason, ReleaseID: f.ReleaseID, Base: f.BaseRevision, Edits: []Edit{e}})
	if err != nil {
		h.fail(w, r, op, err)
		return
	}
	if res.Keys == nil {
		res.Keys = []string{}
	}
	writeJSON(w, http.StatusOK, resultBody{Revision: res.Revision, Keys: res.Keys})
}

// decode reads the JSON body of r into v (see [httpjson.Decode]).
func decode(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	return httpjson.Decode(w, r, v, MaxRequestBody)
}

func (h *handler) badRequest(w http.ResponseWriter, op string, err error) {
	h.refuse(w, http.StatusBadRequest, op, err)
}

func (h *handler) refuse(w http.ResponseWriter, status int, op string, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "flagstore: ") {
		msg = "flagstore: " + op + ": " + msg
	}
	writeJSON(w, status, errorBody{Error: msg})
}

// fail answers err, the error of operation op.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var (
		conflict *ConflictError
		verr     *flags.ValidationError
	)
	switch {
	case errors.As(err, &conflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: err.Error(), BaseRevision: &conflict.Base, CurrentRevision: &conflict.Current})
	case errors.As(err, &verr):
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error(), Problems: problemsOf(verr.Problems)})
	case errors.Is(err, flags.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
	case errors.Is(err, ErrInvalidChange):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	default:
		h.store.cfg.logger.ErrorContext(r.Context(), "flagstore: admin request failed", "op", op, "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "flagstore: " + op + " failed; the server's log says why"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
