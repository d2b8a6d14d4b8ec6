// Package ofrep serves OpenFeature providers over the OpenFeature Remote
// Evaluation Protocol (OFREP v0.3.0), so that services in any language
// read the same flags, with the same bucketing, as the Go service beside
// them.
//
//	h, err := ofrep.NewHandler(provider,            // a *flags.Provider, registered
//		ofrep.WithAuthorizer(checkKey),
//		ofrep.WithRateLimit(100, 200))
//	defer h.Close()
//	mux.Handle("/ofrep/", h)
//
// # Routes
//
//   - POST /ofrep/v1/evaluate/flags/{key}: one flag for the body's context.
//   - POST /ofrep/v1/evaluate/flags: every flag (bulk), with an ETag.
//   - GET /ofrep/v1/events: a text/event-stream of refetchEvaluation events.
//
// The handler may be mounted under a prefix (http.StripPrefix): the event
// stream's address in bulk answers keeps the prefix ([WithEventsURI]).
//
// # Requests
//
// A body is a JSON object whose "context" is an object: the flattened
// evaluation context, targetingKey included under that name. A body that
// is not JSON is answered 400 PARSE_ERROR; one without a context object, a
// context nested deeper than [WithMaxContextDepth], or a targetingKey that
// is not a string, 400 INVALID_CONTEXT; the details name what is wrong.
// The protocol requires a targetingKey; the handler does not, as flagd
// does not: such a context is evaluated (a fractional split then answers
// its default variant). A body longer than [WithMaxBodyBytes] is answered
// 413. The Content-Type is not checked.
//
// # Answers
//
// A success carries key, value, reason, variant and metadata (the flag's
// metadata that are booleans, strings or numbers). Where the caller's code
// default applies (a DISABLED flag, or one without a default variant that
// no rule matched) the value is left out: OFREP's codeDefaultFlag. OFREP
// allows five reasons; OpenFeature's others map onto them so that every
// answer validates:
//
//   - STATIC, TARGETING_MATCH, SPLIT, DISABLED: themselves.
//   - DEFAULT: STATIC. flagd writes DEFAULT when no rule matched and the
//     flag's default variant answers; that variant is the flag's static
//     answer, the same for every context that no rule picks.
//   - CACHED: STATIC. Anything else (UNKNOWN, STALE, custom reasons):
//     UNKNOWN.
//
// Failures: FLAG_NOT_FOUND is 404. PARSE_ERROR, TARGETING_KEY_MISSING,
// INVALID_CONTEXT and GENERAL are 400 with that code; other codes
// (TYPE_MISMATCH, a provider's own) are 400 GENERAL, the details starting
// with the original code. A value OFREP cannot carry (an array) is 400
// GENERAL. A provider that is not ready (PROVIDER_NOT_READY) or failed
// fatally (PROVIDER_FATAL) is a server fault: 500 with the protocol's
// generalErrorResponse, since the request was right and a retry may
// succeed.
//
// The handler evaluates flags whatever their type. A provider with an
// Evaluate method like [flags.Provider.Evaluate] is asked through it; any
// other is asked for an object, then, while it answers TYPE_MISMATCH, for
// a boolean, a string, an integer and a float.
//
// # Bulk evaluation and ETags
//
// A provider with an EvaluateAll method like [flags.Provider.EvaluateAll]
// answers every flag of one set; for any other, [WithFlagKeys] lists the
// keys to evaluate, and without it bulk requests are answered 501. Items
// are successes or evaluationFailures inside a 200; PROVIDER_NOT_READY is
// a 500 for the whole request.
//
// The ETag is strong. For a provider with a revision (a Revision() int64
// method returning more than 0, as a [flags.Provider] over a flag store
// does) it is derived from the revision and a hash of the context (keys
// sorted), so If-None-Match is answered 304 before anything is evaluated,
// until the flag set changes. Without a revision it is a hash of the
// answer, and the flags are evaluated to compare it. A rule that reads
// $flagd.timestamp may answer differently at the same revision: its
// clients should not send If-None-Match.
//
// # Event stream
//
// Bulk answers name the event stream (eventStreams, type sse, an endpoint
// relative to the OFREP origin) when the handler can learn of changes: the
// provider has a revision, which is read every [WithRevisionPoll] (20 ms)
// while a stream is open, or [WithEvents] gives the OpenFeature events of
// the provider. Each change sends
//
//	id: r42
//	data: {"type":"refetchEvaluation","etag":"r42"}
//
// where r42 names the configuration (a revision; c and a count of changes
// for a provider without revisions). The stream starts with a retry field
// ([WithRetry], 1 s) and that id, sends a comment every [WithKeepAlive]
// (15 s), and at most [WithMaxSubscribers] (1,000) streams are open at
// once: the next is answered 503 with Retry-After. A client that
// reconnects with a Last-Event-ID other than the configuration served now
// is sent a refetch at once. A stream ends when its client goes away or
// [Handler.Close] is called; Close waits until every stream has ended.
//
// # Security and limits
//
// [WithAuthorizer] requires a credential: the X-API-Key header or an
// "Authorization: Bearer" token. None is answered 401, one the authorizer
// refuses 403; neither answer has a body. Without it the API is open, as
// flagd's is: evaluation is read-only. [WithRateLimit] answers 429 with
// Retry-After (seconds) past a per-client rate.
//
// # Client
//
// [NewProvider] is the other side: an OpenFeature provider for Go services
// that read flags from any OFREP server (flagd, go-feature-flag's relay
// proxy, another rollsafe service). By default it sends one request per
// evaluation ([DefaultRequestTimeout], 500 ms, since it sits on the
// caller's request path); [WithCachedContext] evaluates every flag for a
// fixed context in one bulk request, revalidated by its ETag and refetched
// when the server's event stream says so. A 429 pauses requests until
// Retry-After; a 401 or 403 is fatal. [FromEnv] reads OFREP_ENDPOINT,
// OFREP_HEADERS and OFREP_TIMEOUT, and only when asked.
package ofrep
