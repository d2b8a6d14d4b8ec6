package release

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rollsafe/rollsafe/internal/httpjson"
)

// Action is what a request to [NewHandler]'s handler asks; the
// [Authorizer] decides on it.
type Action string

// The actions of the admin handler.
const (
	ActionList    Action = "list"    // GET /releases
	ActionRead    Action = "read"    // GET /releases/{id}, GET /releases/{id}/events
	ActionStart   Action = "start"   // POST /releases
	ActionPromote Action = "promote" // POST /releases/{id}/promote
	ActionPause   Action = "pause"   // POST /releases/{id}/pause
	ActionResume  Action = "resume"  // POST /releases/{id}/resume
	ActionAbort   Action = "abort"   // POST /releases/{id}/abort
)

// Authorizer decides each request to the admin handler: action is what it
// asks and id the release it names (empty for a list; the plan's id for a
// start). It returns the actor the change is recorded under (reads may
// return any), or an error to refuse: 403 with the error's text. It is
// called before the body is read.
type Authorizer func(r *http.Request, action Action, id string) (actor string, err error)

// MaxRequestBody is the largest request body the handler reads (a plan).
const MaxRequestBody = 1 << 20

// NewHandler returns the admin surface of c over HTTP, JSON in and out,
// to mount where the caller likes (under [http.StripPrefix] too):
//
//	GET  /releases                     {"releases":[Status...]}, running ones first
//	GET  /releases/{id}                Status
//	GET  /releases/{id}/events?after=N&attempt=N&kind=K   {"events":[Event...]}, oldest first
//	POST /releases                     {"plan":{...},"reason":"..."}: Start
//	POST /releases/{id}/promote        {"reason":"...","step":N}: step (1-based) optional, refused (409) when the release is on another
//	POST /releases/{id}/pause          {"reason":"..."}; likewise resume, abort
//
// Every request goes through authorize first, reads included; a write is
// made under the actor authorize returns (an empty one is refused: 403),
// with the body's "reason", which is required. Writes must be
// application/json (415 otherwise: a cross-site form cannot send it).
// Errors are {"error":"..."}: 400 a malformed request or an invalid plan
// (with "problems" by field), 403 refused, 404 no such release, 409 a
// release that is running or over, or a flag another release moves, 413
// a body over [MaxRequestBody], 422 a flag the release cannot move, 503 a
// rollback decided whose store write the driver will finish
// ([ErrRollbackPending]). A 500
// names the operation only; the cause goes to the Controller's logger.
//
// A nil c or a nil authorize is an error: the handler never serves an open
// door. For a read-only view without an authorizer, see
// [NewStatusHandler].
func NewHandler(c *Controller, authorize Authorizer) (http.Handler, error) {
	if c == nil {
		return nil, errors.New("release: NewHandler: nil controller")
	}
	if authorize == nil {
		return nil, errors.New("release: NewHandler: nil authorizer: the admin handler refuses to serve without one")
	}
	h := &handler{c: c, authorize: authorize}
	mux := http.NewServeMux()
	h.reads(mux)
	mux.HandleFunc("POST /releases", h.start)
	for _, a := range []Action{ActionPromote, ActionPause, ActionResume, ActionAbort} {
		mux.HandleFunc("POST /releases/{id}/"+string(a), h.act(a))
	}
	return mux, nil
}

// NewStatusHandler returns the read-only part of [NewHandler]'s surface
// (the GET routes) with no authorizer: for a status page or a dashboard
// that anyone who reaches it may read. It shows plans, weights,
// measurements and who did what.
func NewStatusHandler(c *Controller) (http.Handler, error) {
	if c == nil {
		return nil, errors.New("release: NewStatusHandler: nil controller")
	}
	h := &handler{c: c, authorize: func(*http.Request, Action, string) (string, error) { return "", nil }}
	mux := http.NewServeMux()
	h.reads(mux)
	return mux, nil
}

type handler struct {
	c         *Controller
	authorize Authorizer
}

func (h *handler) reads(mux *http.ServeMux) {
	mux.HandleFunc("GET /releases", h.list)
	mux.HandleFunc("GET /releases/{id}", h.read)
	mux.HandleFunc("GET /releases/{id}/events", h.events)
}

type errorBody struct {
	Error    string        `json:"error"`
	Problems []PlanProblem `json:"problems,omitempty"`
}

func (h *handler) allow(w http.ResponseWriter, r *http.Request, action Action, id string) (string, bool) {
	actor, err := h.authorize(r, action, id)
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "forbidden"
		}
		httpjson.Write(w, http.StatusForbidden, errorBody{Error: msg})
		return "", false
	}
	return actor, true
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.allow(w, r, ActionList, ""); !ok {
		return
	}
	list, err := h.c.List(r.Context())
	if err != nil {
		h.fail(w, r, "list releases", err)
		return
	}
	if list == nil {
		list = []Status{}
	}
	httpjson.Write(w, http.StatusOK, struct {
		Releases []Status `json:"releases"`
	}{list})
}

func (h *handler) read(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := h.allow(w, r, ActionRead, id); !ok {
		return
	}
	st, err := h.c.Status(r.Context(), id)
	if err != nil {
		h.fail(w, r, fmt.Sprintf("read release %q", id), err)
		return
	}
	httpjson.Write(w, http.StatusOK, st)
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := h.allow(w, r, ActionRead, id); !ok {
		return
	}
	var f HistoryFilter
	q := r.URL.Query()
	for name, dst := range map[string]*int64{"after": &f.After} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				httpjson.Write(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("release: events: %s=%q is not a whole number ≥ 0", name, v)})
				return
			}
			*dst = n
		}
	}
	if v := q.Get("attempt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			httpjson.Write(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("release: events: attempt=%q is not a whole number ≥ 0", v)})
			return
		}
		f.Attempt = n
	}
	f.Kinds = q["kind"]
	evs, err := h.c.History(r.Context(), id, f)
	if err != nil {
		h.fail(w, r, fmt.Sprintf("read the events of release %q", id), err)
		return
	}
	if evs == nil {
		evs = []Event{}
	}
	httpjson.Write(w, http.StatusOK, struct {
		Events []Event `json:"events"`
	}{evs})
}

type startRequest struct {
	Plan   *Plan  `json:"plan"`
	Reason string `json:"reason"`
}

func (h *handler) start(w http.ResponseWriter, r *http.Request) {
	// The plan's id is in the body, which is read after the authorizer
	// says yes: it decides on the action, with an empty id.
	actor, ok := h.allow(w, r, ActionStart, "")
	if !ok || !h.hasActor(w, actor, "start a release") {
		return
	}
	var req startRequest
	if status, err := httpjson.Decode(w, r, &req, MaxRequestBody); err != nil {
		httpjson.Write(w, status, errorBody{Error: "release: start: " + err.Error()})
		return
	}
	if req.Plan == nil {
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: `release: start: the body has no "plan"`})
		return
	}
	st, err := h.c.Start(r.Context(), req.Plan, actor)
	if err != nil {
		h.fail(w, r, "start a release", err)
		return
	}
	httpjson.Write(w, http.StatusCreated, st)
}

type actRequest struct {
	Reason string `json:"reason"`
	// Step, for a promote, is the step (1-based) the caller vouches for;
	// 0 or absent: the current one.
	Step int `json:"step,omitempty"`
}

func (h *handler) act(a Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		op := fmt.Sprintf("%s release %q", a, id)
		actor, ok := h.allow(w, r, a, id)
		if !ok || !h.hasActor(w, actor, op) {
			return
		}
		var req actRequest
		if status, err := httpjson.Decode(w, r, &req, MaxRequestBody); err != nil {
			httpjson.Write(w, status, errorBody{Error: "release: " + op + ": " + err.Error()})
			return
		}
		if strings.TrimSpace(req.Reason) == "" {
			httpjson.Write(w, http.StatusBadRequest, errorBody{Error: "release: " + op + `: "reason" is required`})
			return
		}
		do := map[Action]func() error{
			ActionPromote: func() error { return h.c.PromoteStep(r.Context(), id, req.Step, actor, req.Reason) },
			ActionPause:   func() error { return h.c.Pause(r.Context(), id, actor, req.Reason) },
			ActionResume:  func() error { return h.c.Resume(r.Context(), id, actor, req.Reason) },
			ActionAbort:   func() error { return h.c.Abort(r.Context(), id, actor, req.Reason) },
		}[a]
		if err := do(); err != nil {
			h.fail(w, r, op, err)
			return
		}
		st, err := h.c.Status(r.Context(), id)
		if err != nil {
			h.fail(w, r, op, err)
			return
		}
		httpjson.Write(w, http.StatusOK, st)
	}
}

func (h *handler) hasActor(w http.ResponseWriter, actor, op string) bool {
	if strings.TrimSpace(actor) == "" {
		httpjson.Write(w, http.StatusForbidden, errorBody{Error: "release: " + op + ": the authorizer named no actor, and no change is made without one"})
		return false
	}
	return true
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var perr *PlanError
	switch {
	case errors.As(err, &perr):
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: err.Error(), Problems: perr.Problems})
	case errors.Is(err, ErrNoActor):
		httpjson.Write(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case errors.Is(err, ErrNotAllowed):
		httpjson.Write(w, http.StatusForbidden, errorBody{Error: err.Error()})
	case errors.Is(err, ErrNotFound):
		httpjson.Write(w, http.StatusNotFound, errorBody{Error: err.Error()})
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotActive):
		httpjson.Write(w, http.StatusConflict, errorBody{Error: err.Error()})
	case errors.Is(err, ErrRollbackPending):
		httpjson.Write(w, http.StatusServiceUnavailable, errorBody{Error: "release: " + op + ": the rollback is decided and recorded; the flag store could not be written, and the driver will write it"})
	case errors.Is(err, ErrFlag):
		httpjson.Write(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
	default:
		h.c.cfg.logger.ErrorContext(r.Context(), "release: admin request failed", "op", op, "method", r.Method, "path", r.URL.Path, "err", err)
		httpjson.Write(w, http.StatusInternalServerError, errorBody{Error: "release: " + op + " failed; the server's log says why"})
	}
}
