package flags

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/diegoholiveira/jsonlogic/v3"
)

// A targeting rule is compiled, when the definitions load, into a tree that
// the evaluation walks without the interpreter's per-node costs (a map
// iteration to find the operator, another over the custom operators, a
// slice grown per argument list, variable paths split on every read,
// fractional weights read again on every call).
//
// The tree answers what the interpreter answers (whose "and", "or", "!" and
// "!!" are the package's, see registerOperators): arguments are evaluated
// left to right, so that operators see the same values. One difference is
// deliberate: "if" evaluates only the branch it takes (see ifNode), and
// "and" and "or" no argument past the one that decides, where the
// interpreter evaluates every argument, so that a split or an error in a
// branch not taken does not change the evaluation's reason or fail it.
// Operators without a node of their own ("==", "in", "cat", ...) are given
// their evaluated arguments through the interpreter, one node at a time.
// Where a value would be read again as a rule (an object where the
// interpreter expects a value), the tree gives up and the interpreter
// evaluates the whole rule; rules with operators that take rules rather
// than values ("map", "filter", "all", ...) are not compiled at all.

// errInterpret says that the compiled tree cannot follow the interpreter on
// this evaluation, which must start again in the interpreter.
var errInterpret = errors.New("rule needs the interpreter")

// ruleNode is one compiled expression.
type ruleNode interface {
	eval(data map[string]any) (any, error)
}

// compileTargeting returns the compiled form of rule, or nil when the rule
// is left to the interpreter.
func compileTargeting(rule any) ruleNode {
	m, ok := rule.(map[string]any)
	if !ok || len(m) != 1 {
		return nil
	}
	n, ok := compileElement(m)
	if !ok {
		return nil
	}
	return n
}

// compileElement compiles one element of an argument list: a rule (an
// object of one key) is evaluated, anything else stays as written.
func compileElement(v any) (ruleNode, bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) != 1 {
			return nil, false
		}
		for op, args := range x {
			return compileOp(op, args)
		}
	case nil, string, float64, bool, []any:
		return literal{x}, true
	}
	return nil, false
}

func compileOp(op string, args any) (ruleNode, bool) {
	switch op {
	case "map", "filter", "reduce", "all", "none", "some":
		return nil, false
	case "var":
		if n, ok := compileVar(args); ok {
			return n, true
		}
	case "if":
		if list, ok := args.([]any); ok {
			items, ok := compileList(list)
			if !ok {
				return nil, false
			}
			return ifNode{items}, true
		}
	case "fractional":
		if _, isList := args.([]any); isList {
			// Entries hold rules that compileArgs would leave unevaluated.
			return compileFractional(args)
		}
		a, ok := compileArgs(args)
		return customNode{fn: opFractional, args: a}, ok
	case "and", "or":
		items, ok := compileLogicArgs(args)
		return andNode{items: items, or: op == "or"}, ok
	case "!", "!!":
		items, ok := compileLogicArgs(args)
		if !ok {
			return nil, false
		}
		n := notNode{double: op == "!!"}
		if len(items) > 0 {
			n.arg = items[0]
		}
		return n, true
	case "sem_ver":
		a, ok := compileArgs(args)
		return customNode{fn: opSemVer, args: a}, ok
	case "starts_with":
		a, ok := compileArgs(args)
		return customNode{fn: opStartsWith, args: a}, ok
	case "ends_with":
		a, ok := compileArgs(args)
		return customNode{fn: opEndsWith, args: a}, ok
	}
	a, ok := compileArgs(args)
	return interpretedNode{op: op, args: a}, ok
}

// compileLogicArgs compiles the arguments of a logic operator: a list, or
// one argument that is not a list.
func compileLogicArgs(args any) ([]ruleNode, bool) {
	if list, ok := args.([]any); ok {
		return compileList(list)
	}
	n, ok := compileElement(args)
	if !ok {
		return nil, false
	}
	return []ruleNode{n}, true
}

func compileList(list []any) ([]ruleNode, bool) {
	items := make([]ruleNode, len(list))
	for i, e := range list {
		n, ok := compileElement(e)
		if !ok {
			return nil, false
		}
		items[i] = n
	}
	return items, true
}

// argList is an operator's arguments as the interpreter reads them: a list
// is evaluated element by element, one rule is evaluated, anything else is
// passed as written.
type argList struct {
	items []ruleNode // when the arguments are a list
	one   ruleNode   // when they are one rule
	raw   any        // otherwise
	list  bool
}

func compileArgs(args any) (argList, bool) {
	switch x := args.(type) {
	case []any:
		items, ok := compileList(x)
		return argList{items: items, list: true}, ok
	case map[string]any:
		n, ok := compileElement(x)
		return argList{one: n}, ok
	case nil, string, float64, bool:
		return argList{raw: x}, true
	}
	return argList{}, false
}

func (a argList) eval(data map[string]any) (any, error) {
	if a.one != nil {
		return a.one.eval(data)
	}
	if !a.list {
		return a.raw, nil
	}
	out := make([]any, len(a.items))
	for i, n := range a.items {
		v, err := n.eval(data)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

type literal struct{ v any }

func (l literal) eval(map[string]any) (any, error) { return l.v, nil }

// varNode reads one top-level attribute: {"var": "name"} or
// {"var": ["name", default]}. Dotted paths go to the interpreter's var.
type varNode struct {
	name string
	def  any
}

func compileVar(args any) (ruleNode, bool) {
	name, def := "", any(nil)
	switch x := args.(type) {
	case string:
		name = x
	case []any:
		if len(x) == 0 || len(x) > 2 {
			return nil, false
		}
		s, ok := x[0].(string)
		if !ok {
			return nil, false
		}
		name = s
		if len(x) == 2 {
			switch d := x[1].(type) {
			case nil, string, float64, bool, []any:
				def = d
			default:
				return nil, false
			}
		}
	default:
		return nil, false
	}
	if name == "" || strings.Contains(name, ".") {
		return nil, false
	}
	return varNode{name: name, def: def}, true
}

func (n varNode) eval(data map[string]any) (any, error) {
	if v := data[n.name]; v != nil {
		return v, nil
	}
	return n.def, nil
}

// ifNode is "if" with a list of arguments. Unlike the interpreter, which
// evaluates every argument first, it evaluates the conditions in turn and
// only the branch it takes: the answer is the same, but a fractional in a
// branch not taken does not report a split (which would make the reason
// SPLIT), and an error there does not fail the evaluation.
type ifNode struct{ items []ruleNode }

func (n ifNode) eval(data map[string]any) (any, error) {
	last := len(n.items) - 1
	for i := 0; i < last; i += 2 {
		c, err := n.items[i].eval(data)
		if err != nil {
			return nil, err
		}
		t, ok := truthy(c)
		if !ok {
			return nil, errInterpret
		}
		if t {
			v, err := n.items[i+1].eval(data)
			if err != nil {
				return nil, err
			}
			return asValue(v)
		}
	}
	if len(n.items)%2 == 1 {
		return n.items[last].eval(data)
	}
	return nil, nil
}

// truthy is JsonLogic's truth, for the values the tree follows.
func truthy(v any) (truth, ok bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	case float64:
		return x != 0, true
	case int:
		return x != 0, true
	case string:
		return x != "", true
	case []any:
		return len(x) > 0, true
	}
	// Objects are read as rules by the interpreter's "if".
	return false, false
}

// asValue is an evaluated value where the interpreter evaluates it once
// more: the same value, unless it holds something that reads as a rule.
func asValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		return nil, errInterpret
	case []any:
		for _, e := range x {
			if _, isMap := e.(map[string]any); isMap {
				return nil, errInterpret
			}
		}
	}
	return v, nil
}

// customNode is one of the package's operators, called as the interpreter
// calls it.
type customNode struct {
	fn   func(values, data any) any
	args argList
}

func (n customNode) eval(data map[string]any) (any, error) {
	vals, err := n.args.eval(data)
	if err != nil {
		return nil, err
	}
	return n.fn(vals, data), nil
}

// fractionalNode is fractional, its variant list read when the definitions
// load where it is written out, evaluated entry by entry where an entry
// holds a rule (a variant name or a weight computed from the context).
type fractionalNode struct {
	bucketBy ruleNode   // nil when the first argument is an entry
	entries  []ruleNode // the variant list, when it holds rules
	raw      []any      // the variant list, when it is written out
	shares   []share    // and read
	total    uint64
	static   bool // shares and total hold the list
	splits   bool // and it splits (ok from readShares)
}

func compileFractional(args any) (ruleNode, bool) {
	list, ok := args.([]any)
	if !ok {
		return nil, false
	}
	var n fractionalNode
	entries := list
	if len(list) > 0 {
		if _, isEntry := list[0].([]any); !isEntry {
			if n.bucketBy, ok = compileElement(list[0]); !ok {
				return nil, false
			}
			entries = list[1:]
		}
	}
	if writtenOut(entries) {
		n.static, n.raw = true, entries
		n.shares, n.total, n.splits = readShares(entries)
		return n, true
	}
	n.entries = make([]ruleNode, len(entries))
	for i, e := range entries {
		if l, isList := e.([]any); isList {
			items, ok := compileList(l)
			if !ok {
				return nil, false
			}
			n.entries[i] = listNode{items}
			continue
		}
		if n.entries[i], ok = compileElement(e); !ok {
			return nil, false
		}
	}
	return n, true
}

// writtenOut reports whether a variant list holds no rule.
func writtenOut(entries []any) bool {
	for _, e := range entries {
		switch x := e.(type) {
		case map[string]any:
			return false
		case []any:
			for _, v := range x {
				switch v.(type) {
				case map[string]any, []any:
					return false
				}
			}
		}
	}
	return true
}

func (n fractionalNode) eval(data map[string]any) (any, error) {
	if !n.static {
		return n.evalEntries(data)
	}
	var value string
	ok := true
	if n.bucketBy == nil {
		value, ok = targetingBucket(data)
	} else {
		v, err := n.bucketBy.eval(data)
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case string:
			value = x
		case nil:
			value, ok = targetingBucket(data)
		case []any:
			// An entry after all, as the interpreter would read it.
			return opFractional(append([]any{x}, n.raw...), data), nil
		default:
			ok = false // flagd reads it as an entry, which it is not
		}
	}
	if !ok || !n.splits {
		return nil, nil
	}
	return chosen(traceOf(data), pickShare(bucketHash(value), n.shares, n.total)), nil
}

// evalEntries evaluates every argument, as the interpreter does, and
// leaves the rest to the operator.
func (n fractionalNode) evalEntries(data map[string]any) (any, error) {
	args := make([]any, 0, len(n.entries)+1)
	if n.bucketBy != nil {
		v, err := n.bucketBy.eval(data)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	for _, e := range n.entries {
		v, err := e.eval(data)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	return opFractional(args, data), nil
}

// listNode is a list whose elements are evaluated, as the interpreter
// evaluates the elements of a list in an operator's arguments.
type listNode struct{ items []ruleNode }

func (n listNode) eval(data map[string]any) (any, error) {
	out := make([]any, len(n.items))
	for i, it := range n.items {
		v, err := it.eval(data)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// andNode is JsonLogic's "and" (its "or" when or is set): the first argument
// that is false (for "and") or true (for "or"), or else the last, null
// without arguments. Like JsonLogic, and unlike the interpreter, it
// evaluates no argument past the one that decides.
type andNode struct {
	items []ruleNode
	or    bool
}

func (n andNode) eval(data map[string]any) (any, error) {
	var last any
	for _, it := range n.items {
		v, err := it.eval(data)
		if err != nil {
			return nil, err
		}
		if jsTruthy(v) == n.or {
			return asValue(v)
		}
		last = v
	}
	return asValue(last)
}

// notNode is "!" (or "!!" when double): the truth of its first argument,
// negated once or twice.
type notNode struct {
	arg    ruleNode // nil without arguments
	double bool
}

func (n notNode) eval(data map[string]any) (any, error) {
	var v any
	if n.arg != nil {
		var err error
		if v, err = n.arg.eval(data); err != nil {
			return nil, err
		}
	}
	return jsTruthy(v) == n.double, nil
}

// interpretedNode is an operator without a node of its own: the
// interpreter applies it to the evaluated arguments.
type interpretedNode struct {
	op   string
	args argList
}

func (n interpretedNode) eval(data map[string]any) (any, error) {
	vals, err := n.args.eval(data)
	if err != nil {
		return nil, err
	}
	if _, err := asValue(vals); err != nil {
		return nil, err
	}
	return jsonlogic.ApplyInterface(map[string]any{n.op: vals}, data)
}

// readsFlagd reports whether a compiled rule may read $flagd: through a var
// of that name, or through the interpreter, whose var reads any path.
func readsFlagd(n ruleNode) bool {
	switch x := n.(type) {
	case varNode:
		return x.name == "$flagd"
	case interpretedNode:
		return true
	case ifNode:
		return slices.ContainsFunc(x.items, readsFlagd)
	case customNode:
		return x.args.readsFlagd()
	case fractionalNode:
		return (x.bucketBy != nil && readsFlagd(x.bucketBy)) || slices.ContainsFunc(x.entries, readsFlagd)
	case listNode:
		return slices.ContainsFunc(x.items, readsFlagd)
	case andNode:
		return slices.ContainsFunc(x.items, readsFlagd)
	case notNode:
		return x.arg != nil && readsFlagd(x.arg)
	}
	return false
}

func (a argList) readsFlagd() bool {
	return (a.one != nil && readsFlagd(a.one)) || slices.ContainsFunc(a.items, readsFlagd)
}

// applyCompiled evaluates a compiled rule, recovering as applyRule does.
func applyCompiled(rule ruleNode, data map[string]any) (out any, err error) {
	registerOperators()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rule failed: %v", r)
		}
	}()
	return rule.eval(data)
}
