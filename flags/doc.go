// Package flags decides which code path runs for a request, and lets that
// decision be switched off everywhere, at once, without a redeploy.
//
// It has two halves. [Provider] is an OpenFeature provider that evaluates flag
// definitions written in the flagd format, read from a [Source] (a watched
// file, memory, or a store of your own). [Switch] guards one code path with a
// boolean flag and a circuit breaker, and sends traffic back to the old path
// by itself when the new one fails.
//
// # Flag definitions
//
// Definitions use flagd's JSON format (YAML with the same structure works
// too), so that a file moves between rollsafe and flagd unchanged:
//
//	{
//	  "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@example.com"]}},
//	  "flags": {
//	    "new-checkout": {
//	      "state": "ENABLED",
//	      "variants": {"on": true, "off": false},
//	      "defaultVariant": "off",
//	      "targeting": {"if": [{"$ref": "staff"}, "on", {"fractional": [["on", 10], ["off", 90]]}]}
//	    }
//	  }
//	}
//
// [Parse] validates everything it can before a definition is used: states,
// one JSON type for all variants of a flag, default variant names, operator
// names, $ref references (cycles included). Every problem names its flag and
// field ([ValidationError]). The arguments of flagd's operators and the
// variant names a rule returns are checked when evaluated, as flagd does: a
// rule that flagd loads loads here too, and answers the same. Each flag is
// validated on its own, as flagd loads a file: an invalid flag is kept out
// while the others load, and evaluates to PARSE_ERROR with the caller's
// default value; [Set.Problems] and [ValidationError.Keys] say which. Only a
// problem of the document itself refuses it whole ([DocumentError]): JSON or
// YAML that does not parse, a document that is not an object, "flags"
// missing or not an object, "$evaluators" not an object, invalid set-level
// "metadata", an unknown top-level field.
//
// # Targeting
//
// Targeting rules are JsonLogic with flagd's operators, evaluated as flagd
// evaluates them, so that a file gives the same answers under rollsafe and
// under flagd (flagd's own test suite, its "testbed", runs in the package's
// tests). The operators:
//
//   - fractional: [bucketing value?, [variant, weight]...], a deterministic
//     split. The user's bucket is MurmurHash3 (x86, 32-bit, seed 0) of the
//     bucketing value, or of flag key + targeting key when it is left out
//     or null; bucket = hash × total weight >> 32, and variants take the
//     buckets in order by weight. Weights are whole numbers, 1 when left
//     out, so 1:999 is a 0.1 % rollout. The same user lands in the same
//     variant as under flagd, and widening a split only moves users towards
//     the growing variant. Variant names and weights may be computed by
//     rules ({"if": ...}, {"var": ...}); a variant may be named by a boolean
//     (true names the variant "true"). As in flagd, fractional answers null
//     (the default variant, reason DEFAULT) without a bucketing value or
//     targeting key, for a bucketing value that is not a string (a number:
//     flagd hashes strings only), when the weights add up to zero or past
//     2^31-1, or when an entry or weight is malformed; a negative weight
//     counts as zero.
//   - sem_ver: [version, op, version] with op one of = != < <= > >= ^ (same
//     major) ~ (same major and minor). "v" in front, and missing minor and
//     patch, are allowed; a number in the context reads as it prints (1.2 is
//     1.2.0, 2 is 2.0.0).
//   - starts_with, ends_with: [string, affix].
//   - and, or, !, !!: JsonLogic's, on JsonLogic's truth (null, false, 0, ""
//     and [] are false, everything else true): "and" gives its first false
//     argument or else its last, "or" its first true argument or else its
//     last, "!" the negated truth of its argument. This follows JsonLogic's
//     definition rather than flagd, whose JsonLogic library calls
//     {"and": [null, null]} true: with it, a user without the attributes
//     matches {"and": [{"starts_with": ...}, {"ends_with": ...}]}. flagd's
//     JavaScript evaluator agrees with rollsafe here.
//
// A rule reads the evaluation context's attributes, "targetingKey",
// "$flagd.flagKey" and "$flagd.timestamp" (unix seconds, from [WithClock]).
// Arguments that do not fit sem_ver, starts_with, ends_with or fractional (a
// missing attribute, a number where a string is needed, a version that does
// not parse, a wrong count, an unknown comparison) make the operator answer
// null, as in flagd, never an error: false to a condition, the default
// variant when it is the rule's answer. A rule's answer names a variant
// (a boolean names "true" or "false", a number as JSON writes it); an answer
// that names no variant, "" included, is an error (GENERAL) on the
// evaluations that reach it, as in flagd, so a misspelt variant in a branch
// of an "if" fails only the users who take that branch.
//
// The OpenFeature SDK drops an empty targeting key before the provider sees
// it, so a rule bucketing by {"var": "targetingKey"} hashes "" only when the
// provider is called directly with "targetingKey": "" (as flagd does),
// never through the SDK; a fractional without a bucketing value gives the
// default variant for an empty key either way, as in flagd.
//
// Rules are compiled when the definitions load; the JsonLogic interpreter
// (github.com/diegoholiveira/jsonlogic/v3, its logic operators replaced by
// JsonLogic's) evaluates what the compiled form does not follow: operators
// that take rules ("map", "filter", "all", ...) and objects read as rules.
// Where the interpreter evaluates every branch of an "if", the compiled form
// evaluates only the one it takes (and "and" and "or" no argument past the
// one that decides), so a fractional in a branch not taken does not make
// the reason SPLIT. A rule that is one fractional over the targeting key or
// one attribute costs no more than a hash.
//
// The library keeps its operators in one map for the whole program. The
// Provider adds flagd's operators to it and replaces "and", "or", "!" and
// "!!" with JsonLogic's own, once, before its first evaluation: another
// user of that library in the same program sees them too.
//
// # Reasons and errors
//
// Every evaluation answers with one of these reasons:
//
//	STATIC           no targeting: the default variant
//	TARGETING_MATCH  targeting chose the variant
//	SPLIT            the variant came from fractional (flagd says
//	                 TARGETING_MATCH here)
//	DEFAULT          targeting returned null (or no targeting key reached a
//	                 fractional): the default variant, or the caller's default
//	                 value when the flag has none
//	DISABLED         the flag's state is DISABLED: the caller's default value,
//	                 without an error
//	ERROR            one of the error codes below, with the caller's default value
//
// Error codes: FLAG_NOT_FOUND (no such key), TYPE_MISMATCH (the call asks for
// another type than the flag's variants, or Int for a fractional number),
// PARSE_ERROR (the flag's definition is invalid and no earlier one was valid,
// or the source's first document was refused whole, so there are no
// definitions), PROVIDER_NOT_READY (before Init, after Shutdown, or the
// source could not be read at all) and GENERAL (a targeting rule failed, or
// returned a name that is no variant of the flag, "" included).
// TARGETING_KEY_MISSING is never returned.
//
// # Sources, reloads and events
//
// A [Source] delivers definitions and their changes. [FileSource] watches a
// file through its directory, so an atomic rename, an in-place rewrite and a
// swapped symbolic link (a Kubernetes ConfigMap's ..data) are all seen, while
// other files of the directory, however busy, do not delay a reload; a change
// is read once the file has been quiet for 100 ms ([WithDebounce]), and at
// the latest a second after its first change. A removed directory is
// reported (STALE) and followed again when it returns. [ParseFile] reads a
// file's content as FileSource does, JSON or YAML by the name's extension.
// [MemorySource] serves tests, examples and programs that build definitions
// themselves. A [Writer] is a source that can be changed from Go
// (a flag's state, a split's weights), the shape a database-backed source
// shared by a fleet takes.
//
// New definitions replace the old ones atomically; evaluation takes no lock.
// A document refused whole ([DocumentError]: it does not parse, a half-written
// file included, or its shape is wrong) changes nothing: the last good
// definitions keep serving, the refusal is logged and counted
// (rollsafe.flags.definitions.loads, outcome=refused) and the provider emits
// STALE. The next good definitions bring READY and CONFIGURATION_CHANGED,
// whose FlagChanges lists the keys that changed. ERROR is emitted only when
// the source can no longer follow changes, or when there were never good
// definitions: in the OpenFeature SDK's state machine only a READY event
// leaves ERROR.
//
// A document that parses loads, whatever its flags: the provider stays READY.
// An invalid flag is reported by key and field — a log warning per flag, the
// rollsafe.flags.definitions.invalid gauge (1 per invalid key, 0 once it is
// valid again), and the EventMetadata "invalidFlags" and "lastGoodFlags" of
// the READY and CONFIGURATION_CHANGED events the provider sends — and served
// by this rule:
//
//   - a flag the provider never had a valid definition of answers
//     PARSE_ERROR, as in flagd;
//   - a flag that was valid and that a reload makes invalid keeps its last
//     good definition, until a valid one arrives or the flag is removed:
//     a typo in a kill switch's definition never switches the new path back
//     on. flagd would answer PARSE_ERROR, and the caller's default, instead.
//
// Writes accept no invalid definition: SetState and SetWeights refuse a
// change that leaves their flag invalid (and a flag that is invalid already:
// only a new definition mends it), [MemorySource.Replace] and ReplaceJSON
// refuse definitions with any invalid flag. A refused write changes nothing,
// so an invalid definition never reaches a store through rollsafe.
//
// # Registering the provider
//
// rollsafe never calls openfeature.SetProvider: register the provider with
// the global API or an isolated one (isolated.NewAPI), and pass the client to
// the code that needs it. The SDK calls [Provider.Init], which waits for the
// first definitions, and [Provider.Shutdown], which stops the watch.
//
// # Switch
//
// [NewSwitch] guards the code behind one boolean flag: [Switch.Run] calls
// the new path when the flag is on and the old one otherwise. A circuit
// breaker (sony/gobreaker) counts the new path's failures, errors and
// recovered panics alike (a panic becomes a [*PanicError], never a crash;
// a failure after the caller's context is done is not counted). When the
// share of failures reaches [WithTripRatio] (default 0.5) over at least
// [WithMinCalls] calls (default 10) in the sliding [WithWindow] (default
// 60s), every call takes the old path for [WithCoolDown] (default 30s);
// then [WithHalfOpenCalls] trials (default 3) decide whether it closes.
// [WithRetryOnOld] runs a failed new-path call again on the old path, for
// idempotent work.
//
// A flag that cannot be evaluated sends the call to the old path, and Run
// returns the old path's result: the evaluation error is logged and counted,
// not returned. [Switch.Kill] and [Switch.Revive] force the old path on one
// instance at once; turning the flag off in its source does so everywhere.
//
// State changes go to the logger, to OpenTelemetry, to listeners
// ([WithStateListener], called outside the Switch's locks) and to
// [Switch.Healthy], a check for the health package: register it as
// non-critical (warn), since a tripped Switch means the old path serves.
// [Switch.Stats] returns per-path calls, errors and latency in-process; the
// same figures are OpenTelemetry metrics ([MetricSwitchCalls] and those
// beside it). [TelemetryHook] records every flag evaluation with the
// feature_flag.* semantic conventions as span events and a counter.
package flags
