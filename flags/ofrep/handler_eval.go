package ofrep

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
)

// serveFlag answers POST /ofrep/v1/evaluate/flags/{key}.
func (h *Handler) serveFlag(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	flat, rerr := h.readContext(w, r)
	if rerr != nil {
		if rerr.tooLarge {
			h.tooLarge(w, rerr)
			return
		}
		writeJSON(w, http.StatusBadRequest, EvaluationResult{Key: key, ErrorCode: rerr.code, ErrorDetails: rerr.details})
		return
	}
	res, fault := toResult(key, h.evaluate(r.Context(), key, flat))
	switch {
	case fault != "":
		h.serverError(w, r, fault)
	case res.ErrorCode == CodeFlagNotFound:
		writeJSON(w, http.StatusNotFound, res)
	case res.ErrorCode != "":
		writeJSON(w, http.StatusBadRequest, res)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func (h *Handler) readContext(w http.ResponseWriter, r *http.Request) (openfeature.FlattenedContext, *requestError) {
	body, rerr := readBody(w, r, h.cfg.maxBody)
	if rerr != nil {
		return nil, rerr
	}
	return parseContext(body, h.cfg.maxDepth)
}

func (h *Handler) tooLarge(w http.ResponseWriter, rerr *requestError) {
	writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{ErrorDetails: rerr.details})
}

// serverError answers 500 with a generalErrorResponse.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, details string) {
	h.cfg.logger.WarnContext(r.Context(), "ofrep: evaluation failed", "path", r.URL.Path, "error", details)
	writeJSON(w, http.StatusInternalServerError, ErrorResponse{ErrorDetails: details})
}

// evaluate answers one flag whatever its type.
func (h *Handler) evaluate(ctx context.Context, key string, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	if h.eval != nil {
		return h.eval.Evaluate(ctx, key, flat)
	}
	return evaluateAnyType(ctx, h.provider, key, flat)
}

// evaluateAnyType answers a flag of a provider that can only be asked for
// a given type: as an object first, then, while the provider answers
// TYPE_MISMATCH, as a boolean, a string, an integer and a float. A
// DISABLED flag and every error answer no value (the caller's default), as
// [flags.Provider.Evaluate] does, since the default the provider returned
// is ours, not the caller's.
func evaluateAnyType(ctx context.Context, p openfeature.FeatureProvider, key string, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	d := p.ObjectEvaluation(ctx, key, nil, flat)
	if mismatched(d.ProviderResolutionDetail) {
		b := p.BooleanEvaluation(ctx, key, false, flat)
		d = openfeature.InterfaceResolutionDetail{Value: b.Value, ProviderResolutionDetail: b.ProviderResolutionDetail}
	}
	if mismatched(d.ProviderResolutionDetail) {
		s := p.StringEvaluation(ctx, key, "", flat)
		d = openfeature.InterfaceResolutionDetail{Value: s.Value, ProviderResolutionDetail: s.ProviderResolutionDetail}
	}
	if mismatched(d.ProviderResolutionDetail) {
		i := p.IntEvaluation(ctx, key, 0, flat)
		d = openfeature.InterfaceResolutionDetail{Value: i.Value, ProviderResolutionDetail: i.ProviderResolutionDetail}
	}
	if mismatched(d.ProviderResolutionDetail) {
		f := p.FloatEvaluation(ctx, key, 0, flat)
		d = openfeature.InterfaceResolutionDetail{Value: f.Value, ProviderResolutionDetail: f.ProviderResolutionDetail}
	}
	if d.ResolutionDetail().ErrorCode != "" || d.Reason == openfeature.DisabledReason ||
		(d.Reason == openfeature.DefaultReason && d.Variant == "") {
		d.Value = nil
	}
	return d
}

func mismatched(d openfeature.ProviderResolutionDetail) bool {
	return d.ResolutionDetail().ErrorCode == openfeature.TypeMismatchCode
}

// toResult turns an evaluation into its OFREP answer. fault is set instead
// when the answer is a server error (500): the provider is not ready, or
// failed fatally.
func toResult(key string, d openfeature.InterfaceResolutionDetail) (res EvaluationResult, fault string) {
	rd := d.ResolutionDetail()
	res = EvaluationResult{Key: key, Metadata: scalarMetadata(rd.FlagMetadata)}
	if rd.ErrorCode != "" {
		switch rd.ErrorCode {
		case openfeature.ProviderNotReadyCode, openfeature.ProviderFatalCode:
			return EvaluationResult{}, fmt.Sprintf("flag %q: %s: %s", key, rd.ErrorCode, rd.ErrorMessage)
		case openfeature.FlagNotFoundCode, openfeature.ParseErrorCode, openfeature.TargetingKeyMissingCode,
			openfeature.InvalidContextCode, openfeature.GeneralCode:
			res.ErrorCode = string(rd.ErrorCode)
			res.ErrorDetails = rd.ErrorMessage
		default:
			// TYPE_MISMATCH and codes OFREP does not have.
			res.ErrorCode = CodeGeneral
			res.ErrorDetails = string(rd.ErrorCode) + ": " + rd.ErrorMessage
		}
		return res, ""
	}
	res.Reason = reasonOf(rd.Reason)
	res.Variant = rd.Variant
	if d.Value != nil {
		v, err := wireValue(d.Value)
		if err != nil {
			return EvaluationResult{Key: key, ErrorCode: CodeGeneral, ErrorDetails: fmt.Sprintf("flag %q: %v", key, err), Metadata: res.Metadata}, ""
		}
		res.Value = v
	}
	return res, ""
}

// reasonOf maps an OpenFeature reason onto the five that OFREP allows.
func reasonOf(r openfeature.Reason) string {
	switch r {
	case openfeature.StaticReason, openfeature.DefaultReason, openfeature.CachedReason:
		return ReasonStatic
	case openfeature.TargetingMatchReason:
		return ReasonTargetingMatch
	case openfeature.SplitReason:
		return ReasonSplit
	case openfeature.DisabledReason:
		return ReasonDisabled
	default:
		return ReasonUnknown
	}
}

// wireValue checks that v is a value OFREP carries: a boolean, string,
// number or object (an array is not one).
func wireValue(v any) (any, error) {
	switch x := v.(type) {
	case bool, string, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return v, nil
	case float32:
		return wireFloat(float64(x))
	case float64:
		return wireFloat(x)
	case map[string]any:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value of type %T cannot be written as JSON: %w", v, err)
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("value is %s, which OFREP cannot carry (a boolean, string, number or object)", jsonKind(b))
	}
	return json.RawMessage(b), nil
}

func wireFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("value %v is not a JSON number", f)
	}
	return f, nil
}

// scalarMetadata keeps the metadata OFREP carries: booleans, strings and
// numbers.
func scalarMetadata(m openfeature.FlagMetadata) map[string]any {
	var out map[string]any
	for k, v := range m {
		switch x := v.(type) {
		case bool, string, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		case float32:
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				continue
			}
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
		default:
			continue
		}
		if out == nil {
			out = make(map[string]any, len(m))
		}
		out[k] = v
	}
	return out
}

// serveBulk answers POST /ofrep/v1/evaluate/flags.
func (h *Handler) serveBulk(w http.ResponseWriter, r *http.Request) {
	flat, rerr := h.readContext(w, r)
	if rerr != nil {
		if rerr.tooLarge {
			h.tooLarge(w, rerr)
			return
		}
		writeJSON(w, http.StatusBadRequest, ErrorResponse{ErrorCode: rerr.code, ErrorDetails: rerr.details})
		return
	}
	if h.all == nil && h.cfg.flagKeys == nil {
		writeJSON(w, http.StatusNotImplemented, ErrorResponse{ErrorDetails: "bulk evaluation: the provider cannot list its flags"})
		return
	}
	streamURI := h.eventsURI(r)
	ctxHash := contextHash(flat, streamURI)
	// With a revision, the ETag is known before evaluating: a client that
	// has this revision's answer for this context is told so for free.
	if h.rev != nil {
		if rev := h.rev.Revision(); rev > 0 && etagMatch(r.Header.Get("If-None-Match"), revisionETag(rev, ctxHash)) {
			w.Header().Set("ETag", revisionETag(rev, ctxHash))
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	resp, rev, fault := h.evaluateAll(r.Context(), flat)
	if fault != "" {
		h.serverError(w, r, fault)
		return
	}
	if rev > 0 {
		resp.Metadata = map[string]any{"revision": rev}
	}
	if h.streams() {
		resp.EventStreams = []EventStream{{Type: "sse", Endpoint: &EventStreamEndpoint{RequestURI: streamURI}}}
	}
	body, err := json.Marshal(resp)
	if err != nil {
		h.serverError(w, r, "bulk evaluation: write the answer: "+err.Error())
		return
	}
	etag := ""
	if rev > 0 {
		etag = revisionETag(rev, ctxHash)
	} else {
		sum := sha256.Sum256(body)
		etag = `"b` + hex.EncodeToString(sum[:16]) + `"`
	}
	w.Header().Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, http.StatusOK, body)
}

// evaluateAll answers every flag, with the revision of the set it read (0
// when unknown), or a fault for a 500.
func (h *Handler) evaluateAll(ctx context.Context, flat openfeature.FlattenedContext) (BulkResponse, int64, string) {
	if h.all != nil {
		rev, evals, err := h.all.EvaluateAll(ctx, flat)
		if err != nil {
			return BulkResponse{}, 0, "bulk evaluation: " + err.Error()
		}
		out := BulkResponse{Flags: make([]EvaluationResult, 0, len(evals))}
		for _, e := range evals {
			res, fault := toResult(e.Key, e.InterfaceResolutionDetail)
			if fault != "" {
				return BulkResponse{}, 0, fault
			}
			out.Flags = append(out.Flags, res)
		}
		return out, rev, ""
	}
	keys := h.cfg.flagKeys()
	out := BulkResponse{Flags: make([]EvaluationResult, 0, len(keys))}
	for _, k := range keys {
		res, fault := toResult(k, h.evaluate(ctx, k, flat))
		if fault != "" {
			return BulkResponse{}, 0, fault
		}
		// OFREP's bulk items have no FLAG_NOT_FOUND: a listed key that the
		// provider lacks is not one of its flags.
		if res.ErrorCode == CodeFlagNotFound {
			continue
		}
		out.Flags = append(out.Flags, res)
	}
	return out, 0, ""
}

// contextHash digests what a bulk answer depends on besides the flags: the
// context (encoding/json writes map keys sorted, so equal contexts hash
// alike) and the event stream's address.
func contextHash(flat openfeature.FlattenedContext, streamURI string) [32]byte {
	b, err := json.Marshal(map[string]any(flat))
	if err != nil {
		// A context decoded from JSON always encodes again.
		b = []byte(err.Error())
	}
	hs := sha256.New()
	hs.Write(b)
	hs.Write([]byte{0})
	hs.Write([]byte(streamURI))
	var out [32]byte
	hs.Sum(out[:0])
	return out
}

func revisionETag(rev int64, ctxHash [32]byte) string {
	return `"r` + strconv.FormatInt(rev, 10) + "-" + hex.EncodeToString(ctxHash[:12]) + `"`
}

// etagMatch reports whether an If-None-Match header matches etag, with the
// weak comparison RFC 9110 prescribes for it.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// eventsURI is the requestUri of the event stream for a request to r.
func (h *Handler) eventsURI(r *http.Request) string {
	if h.cfg.eventsURI != "" {
		return h.cfg.eventsURI
	}
	path := r.RequestURI
	if !strings.HasPrefix(path, "/") {
		if u, err := url.ParseRequestURI(path); err == nil {
			path = u.EscapedPath()
		}
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	prefix := ""
	if i := strings.LastIndex(path, PathEvaluateFlags); i >= 0 {
		prefix = path[:i]
	}
	return prefix + PathEvents
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorResponse{ErrorDetails: "write the answer: " + err.Error()})
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away: nothing to tell it
}
