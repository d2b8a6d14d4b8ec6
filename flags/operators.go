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
var registerOperators = sync.OnceFunc(func() {
	jsonlogic.AddOperator("fractional", opFractional)
	jsonlogic.AddOperator("sem_ver", opSemVer)
	jsonlogic.AddOperator("starts_with", opStartsWith)
	jsonlogic.AddOperator("ends_with", opEndsWith)
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

// Operators never panic: the library's recover assumes every panic carries an
// error and would itself panic on anything else. Arguments that do not fit
// (a missing attribute, a version that does not parse, a wrong count) make an
// operator answer null rather than false, as in flagd: a condition reads it as
// false, and a rule that answers null serves the default variant. A wrong
// shape written in the rule itself is refused when the definitions load.

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
// allowed, missing minor and patch are zero, and a whole number is a major
// version.
func parseVersion(v any) (*semver.Version, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		if x != math.Trunc(x) || x < 0 {
			return nil, false
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
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

// checkRule reports what is wrong with a targeting rule. result says whether
// the rule's value is the flag's answer, so that a literal string there must
// name a variant.
func checkRule(ps *problems, f *flag, field string, rule any, result bool) {
	switch x := rule.(type) {
	case string:
		if result {
			if _, ok := f.variants[x]; !ok && x != "" {
				ps.add(f.key, field, "targeting returns %q, which is not one of the variants (%s)", x, variantNames(f.variants))
			}
		}
	case []any:
		for _, e := range x {
			checkRule(ps, f, field, e, false)
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
			checkOperator(ps, f, field, op, args, result)
		}
	}
}

func checkOperator(ps *problems, f *flag, field, op string, args any, result bool) {
	if !operators[op] {
		ps.add(f.key, field, "unknown operator %q", op)
		return
	}
	list, isList := args.([]any)
	switch op {
	case "if", "?:":
		if !isList {
			checkRule(ps, f, field, args, result)
			return
		}
		for i, e := range list {
			branch := i%2 == 1 || i == len(list)-1
			checkRule(ps, f, field, e, result && branch)
		}
		return
	case "fractional":
		checkFractional(ps, f, field, args)
		return
	case "sem_ver":
		if !isList || len(list) != 3 {
			ps.add(f.key, field, "sem_ver takes [version, operator, version]")
			return
		}
		if s, ok := list[1].(string); !ok || !semVerOps[s] {
			ps.add(f.key, field, "sem_ver operator %v is not one of = != < <= > >= ^ ~", list[1])
		}
		for _, i := range []int{0, 2} {
			if s, ok := list[i].(string); ok {
				if _, ok := parseVersion(s); !ok {
					ps.add(f.key, field, "sem_ver: %q is not a semantic version", s)
				}
			}
		}
	case "starts_with", "ends_with":
		if !isList || len(list) != 2 {
			ps.add(f.key, field, "%s takes [string, string]", op)
			return
		}
	case "var":
		return
	}
	checkRule(ps, f, field, args, false)
}
