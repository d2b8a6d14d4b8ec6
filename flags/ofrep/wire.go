package ofrep

// The wire types of OFREP v0.3.0, as the handler writes them and as a
// client reads them. They follow the field names of the protocol's OpenAPI
// file exactly; a zero field is left out.

// Error codes an OFREP response carries.
const (
	CodeFlagNotFound        = "FLAG_NOT_FOUND"
	CodeParseError          = "PARSE_ERROR"
	CodeTargetingKeyMissing = "TARGETING_KEY_MISSING"
	CodeInvalidContext      = "INVALID_CONTEXT"
	CodeGeneral             = "GENERAL"
)

// Reasons an OFREP success may carry: the protocol allows these five only
// (see the package doc for how other OpenFeature reasons map onto them).
const (
	ReasonStatic         = "STATIC"
	ReasonTargetingMatch = "TARGETING_MATCH"
	ReasonSplit          = "SPLIT"
	ReasonDisabled       = "DISABLED"
	ReasonUnknown        = "UNKNOWN"
)

// EventTypeRefetch is the type of the one event the SSE stream sends: the
// flag configuration changed, fetch the evaluations again.
const EventTypeRefetch = "refetchEvaluation"

// EvaluationRequest is the body of both evaluation routes.
type EvaluationRequest struct {
	Context map[string]any `json:"context"`
}

// EvaluationResult is one flag's answer: a success (Reason set, Value set
// unless the caller's code default applies) or a failure (ErrorCode set).
// It is the body of a single evaluation and an item of a bulk one.
type EvaluationResult struct {
	Key          string         `json:"key"`
	Value        any            `json:"value,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	Variant      string         `json:"variant,omitempty"`
	ErrorCode    string         `json:"errorCode,omitempty"`
	ErrorDetails string         `json:"errorDetails,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// BulkResponse is the 200 body of a bulk evaluation.
type BulkResponse struct {
	Flags        []EvaluationResult `json:"flags"`
	Metadata     map[string]any     `json:"metadata,omitempty"`
	EventStreams []EventStream      `json:"eventStreams,omitempty"`
}

// EventStream tells a client where to listen for changes. Exactly one of
// URL and Endpoint is set.
type EventStream struct {
	Type               string               `json:"type"`
	URL                string               `json:"url,omitempty"`
	Endpoint           *EventStreamEndpoint `json:"endpoint,omitempty"`
	InactivityDelaySec int                  `json:"inactivityDelaySec,omitempty"`
}

// EventStreamEndpoint is an event stream's address relative to the OFREP
// base URL's origin (Origin empty) or to Origin.
type EventStreamEndpoint struct {
	Origin     string `json:"origin,omitempty"`
	RequestURI string `json:"requestUri"`
}

// ErrorResponse is the body of a failure that concerns no one flag: a bulk
// request refused whole (ErrorCode set), or a server error (500, ErrorCode
// empty).
type ErrorResponse struct {
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorDetails string `json:"errorDetails,omitempty"`
}

// StreamEvent is the JSON in the data field of an SSE event.
type StreamEvent struct {
	Type string `json:"type"`
	// ETag names the flag configuration the event announces; a client
	// passes it back as the flagConfigEtag query parameter of its refetch.
	ETag string `json:"etag,omitempty"`
}
