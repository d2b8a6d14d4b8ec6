package flags

import (
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/diegoholiveira/jsonlogic/v3"
)

// The JsonLogic library keeps custom operators in a package-level map that it
// reads on every evaluation without a lock. Writing the map once, before the
// first evaluation and never again, is the only race-free way to use it.
//
// The map is the whole process's: once a Provider has evaluated a rule, any
// other user of github.com/diegoholiveira/jsonlogic/v3 in the same program
// sees these operators too, "and", "or", "!" and "!!" with JsonLogic's
// truthiness instead of the library's. The package docs say so.
var registerOperators = sync.OnceFunc(func() {
	jsonlogic.AddOperator("fractional", opFractionalInterpreted)
	jsonlogic.AddOperator("sem_ver", opSemVer)
	jsonlogic.AddOperator("starts_with", opStartsWith)
	jsonlogic.AddOperator("ends_with", opEndsWith)
	// The library's own "and", "or", "!" and "!!" do not follow JsonLogic
	// ({"and": [null, null]} is true there): these replace them.
	jsonlogic.AddOperator("and", opAnd)
	jsonlogic.AddOperator("or", opOr)
	jsonlogic.AddOperator("!", opNot)
	jsonlogic.AddOperator("!!", opNotNot)
})

// operators are the names a rule may use: JsonLogic's own and flagd's.
var operators = map[string]bool{
	"==": true, "===": true, "!=": true, "!==": true, ">": true, ">=": true,
	"<": true, "<=": true, "!": true, "!!": true, "or": true, "and": true,
	"?:": true, "in": true, "in_sorted": true, "cat": true, "%": true,
	"abs": true, "max": true, "min": true, "+": true, "-": true, "*": true,
	"/": true, "substr": true, "merge": true, "if": true, "missing": true,
	"missing_some": true, "some": true, "filter": true, "map": true,
	"reduce": true, "all": true, "none": true, "var": true,
	"fractional": true, "sem_ver": true, "starts_with": true, "ends_with": true,
}

// semVerOps are the comparisons of sem_ver, as flagd defines them: "^"
// matches the same major version, "~" the same major and minor.
var semVerOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "^": true, "~": true}

// Operators never panic with anything but an error: the library's recover
// assumes every panic carries one and would itself panic on anything else.
// Arguments that do not fit (a missing attribute, a version that does not
// parse, a wrong count, an unknown comparison) make an operator answer null
// rather than false, as in flagd: a condition reads it as false, and a rule
// that answers null serves the default variant. As flagd does, a flag whose
// rule has such arguments written out loads, and answers null.

// opSemVer: {"sem_ver": [version, op, version]}.
func opSemVer(values, _ any) any {
	args, ok := values.([]any)
	if !ok || len(args) != 3 {
		return nil
	}
	op, ok := args[1].(string)
	if !ok || !semVerOps[op] {
		return nil
	}
	a, ok := parseVersion(args[0])
	if !ok {
		return nil
	}
	b, ok := parseVersion(args[2])
	if !ok {
		return nil
	}
	switch op {
	case "=":
		return a.Equal(b)
	case "!=":
		return !a.Equal(b)
	case "<":
		return a.LessThan(b)
	case "<=":
		return !a.GreaterThan(b)
	case ">":
		return a.GreaterThan(b)
	case ">=":
		return !a.LessThan(b)
	case "^":
		return a.Major() == b.Major()
	default: // "~"
		return a.Major() == b.Major() && a.Minor() == b.Minor()
	}
}

// parseVersion reads a version as flagd does: "v" or "V" in front is
// allowed, missing minor and patch are zero, and a number in the context is
// read as it prints (2 is 2.0.0, 1.2 is 1.2.0).
func parseVersion(v any) (*semver.Version, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		// As flagd formats a number (Go's %v): 1.2 is "1.2", read as 1.2.0.
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		s = strconv.Itoa(x)
	default:
		return nil, false
	}
	if strings.HasPrefix(s, "V") {
		s = "v" + s[1:]
	}
	ver, err := semver.NewVersion(s)
	if err != nil {
		return nil, false
	}
	return ver, true
}

// opStartsWith: {"starts_with": [string, prefix]}.
func opStartsWith(values, _ any) any {
	s, affix, ok := twoStrings(values)
	if !ok {
		return nil
	}
	return strings.HasPrefix(s, affix)
}

// opEndsWith: {"ends_with": [string, suffix]}.
func opEndsWith(values, _ any) any {
	s, affix, ok := twoStrings(values)
	if !ok {
		return nil
	}
	return strings.HasSuffix(s, affix)
}

func twoStrings(values any) (string, string, bool) {
	args, ok := values.([]any)
	if !ok || len(args) != 2 {
		return "", "", false
	}
	a, ok1 := args[0].(string)
	b, ok2 := args[1].(string)
	return a, b, ok1 && ok2
}

// checkRule reports what is wrong with a targeting rule when the
// definitions load: an unknown operator, or an object of more than one key,
// which no evaluation could run. Everything flagd loads loads here too: the
// arguments of sem_ver, starts_with, ends_with and fractional are checked
// when they are evaluated (a wrong one answers null, see above), and a
// literal variant name that the flag lacks fails only the evaluations that
// choose it (ERROR, GENERAL), as in flagd.
func checkRule(ps *problems, f *flag, field string, rule any) {
	switch x := rule.(type) {
	case []any:
		for _, e := range x {
			checkRule(ps, f, field, e)
		}
	case map[string]any:
		if len(x) == 0 {
			return
		}
		if len(x) > 1 {
			ps.add(f.key, field, "a rule object holds exactly one operator, not %d keys", len(x))
			return
		}
		for op, args := range x {
			if !operators[op] {
				ps.add(f.key, field, "unknown operator %q", op)
				return
			}
			if op == "var" {
				return
			}
			checkRule(ps, f, field, args)
		}
	}
}

// JsonLogic's logic operators, on evaluated arguments. The compiled tree
// has a node of its own for them (andNode, which serves "or" too) that
// evaluates no more arguments than needed; these serve the interpreter.

// jsTruthy is JsonLogic's truth: null, false, 0, "" and [] are false,
// everything else (objects included) is true.
func jsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case int:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	}
	return true
}

// logicArgs is the argument list of a logic operator: one argument that is
// not a list is a list of one.
func logicArgs(values any) []any {
	if l, ok := values.([]any); ok {
		return l
	}
	return []any{values}
}

// opAnd: the first false argument, or the last; null without arguments.
func opAnd(values, _ any) any {
	var last any
	for _, v := range logicArgs(values) {
		if !jsTruthy(v) {
			return v
		}
		last = v
	}
	return last
}

// opOr: the first true argument, or the last; null without arguments.
func opOr(values, _ any) any {
	var last any
	for _, v := range logicArgs(values) {
		if jsTruthy(v) {
			return v
		}
		last = v
	}
	return last
}

// opNot: the negated truth of the first argument (of null without one).
func opNot(values, _ any) any { return !jsTruthy(firstArg(values)) }

// opNotNot: the truth of the first argument.
func opNotNot(values, _ any) any { return jsTruthy(firstArg(values)) }

func firstArg(values any) any {
	if l := logicArgs(values); len(l) > 0 {
		return l[0]
	}
	return nil
}
