package check

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rollsafe/rollsafe/dialect"
)

// This file decides whether a column type change is one that old values and
// the previous release's code can follow. Types fall into kinds (integer,
// decimal, float, text, binary, boolean, date/time, json, uuid, enum, …);
// within a kind a type is narrower when it holds fewer values. Widening
// within a kind is an expand change; anything else is a contract.

// Kinds of column type.
const (
	kindInt      = "integer"
	kindDecimal  = "decimal"
	kindFloat    = "float"
	kindText     = "text"
	kindBinary   = "binary"
	kindBool     = "boolean"
	kindDate     = "date"
	kindTime     = "time"
	kindDateTime = "timestamp"
	kindTZ       = "timestamp with time zone"
	kindJSON     = "json"
	kindUUID     = "uuid"
	kindEnum     = "enum"
	kindSet      = "set"
	kindArray    = "array"
	kindNumeric  = "numeric" // SQLite's NUMERIC affinity
)

// unbounded is the size of a type without a limit (text, numeric).
const unbounded = math.MaxInt64

// colType is a column type read for comparison.
type colType struct {
	kind string
	// size is bytes for integers and floats, characters or bytes for text
	// and binary, fractional-second digits for times; unbounded when the
	// type has no limit.
	size  int64
	scale int64 // decimal digits after the point (decimal)
	// precision is the total digits of a decimal (unbounded for PostgreSQL's
	// bare numeric).
	precision int64
	unsigned  bool
	values    []string // enum and set values
	elem      *colType // array element
	text      string   // the type as the snapshot wrote it
}

// readType classifies the type t of a column in snap.
func readType(snap *Snapshot, t string) colType {
	t = strings.TrimSpace(strings.ToLower(t))
	ct := colType{text: t}
	if snap.Dialect == dialect.SQLite {
		ct.kind, ct.size = sqliteAffinity(t), unbounded
		return ct
	}
	if elem, ok := strings.CutSuffix(t, "[]"); ok {
		e := readType(snap, elem)
		ct.kind, ct.elem = kindArray, &e
		return ct
	}
	if e := snap.Enum(t); e != nil {
		ct.kind, ct.values = kindEnum, e.Values
		return ct
	}
	base, args := splitTypeArgs(t)
	if rest, ok := strings.CutSuffix(base, " unsigned"); ok {
		base, ct.unsigned = strings.TrimSpace(rest), true
	}
	base = strings.TrimSuffix(base, " zerofill")
	nums := make([]int64, 0, len(args))
	for _, a := range args {
		if n, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64); err == nil {
			nums = append(nums, n)
		}
	}
	arg := func(i int, def int64) int64 {
		if i < len(nums) {
			return nums[i]
		}
		return def
	}
	switch base {
	case "tinyint", "int1":
		ct.kind, ct.size = kindInt, 1
		if snap.Dialect == dialect.Postgres {
			ct.size = 2
		}
	case "bool", "boolean":
		if snap.Dialect == dialect.MySQL { // an alias of tinyint(1)
			ct.kind, ct.size = kindInt, 1
		} else {
			ct.kind = kindBool
		}
	case "smallint", "int2", "smallserial", "serial2":
		ct.kind, ct.size = kindInt, 2
	case "mediumint", "int3":
		ct.kind, ct.size = kindInt, 3
	case "int", "integer", "int4", "serial", "serial4":
		ct.kind, ct.size = kindInt, 4
	case "bigint", "int8", "bigserial", "serial8":
		ct.kind, ct.size = kindInt, 8
	case "numeric", "decimal", "dec", "fixed":
		ct.kind = kindDecimal
		if snap.Dialect == dialect.MySQL {
			ct.precision, ct.scale = arg(0, 10), arg(1, 0)
		} else {
			ct.precision, ct.scale = arg(0, unbounded), arg(1, 0)
			if len(nums) == 0 { // bare numeric: any precision and scale
				ct.scale = unbounded
			}
		}
	case "real", "float4":
		ct.kind, ct.size = kindFloat, 4
		if snap.Dialect == dialect.MySQL { // REAL is DOUBLE unless REAL_AS_FLOAT
			ct.size = 8
		}
	case "float":
		ct.kind, ct.size = kindFloat, 4
		if p := arg(0, 0); p > 24 || snap.Dialect == dialect.Postgres && len(nums) == 0 {
			ct.size = 8
		}
	case "double", "double precision", "float8":
		ct.kind, ct.size = kindFloat, 8
	case "char", "character", "bpchar", "nchar":
		ct.kind, ct.size = kindText, arg(0, 1)
	case "varchar", "character varying", "nvarchar":
		ct.kind, ct.size = kindText, arg(0, unbounded)
	case "text", "citext", "clob", "longtext":
		ct.kind, ct.size = kindText, unbounded
		if snap.Dialect == dialect.MySQL && base == "text" {
			ct.size = 65535
		}
	case "tinytext":
		ct.kind, ct.size = kindText, 255
	case "mediumtext":
		ct.kind, ct.size = kindText, 16777215
	case "bytea", "longblob":
		ct.kind, ct.size = kindBinary, unbounded
	case "blob":
		ct.kind, ct.size = kindBinary, 65535
	case "tinyblob":
		ct.kind, ct.size = kindBinary, 255
	case "mediumblob":
		ct.kind, ct.size = kindBinary, 16777215
	case "binary", "varbinary":
		ct.kind, ct.size = kindBinary, arg(0, 1)
	case "date":
		ct.kind = kindDate
	case "time", "time without time zone":
		ct.kind, ct.size = kindTime, arg(0, 6)
	case "timetz", "time with time zone":
		ct.kind, ct.size = "timetz", arg(0, 6)
	case "timestamp", "timestamp without time zone", "datetime":
		ct.kind, ct.size = kindDateTime, arg(0, 6)
		if snap.Dialect == dialect.MySQL {
			ct.size = arg(0, 0)
			if base == "timestamp" { // 1970–2038 only: narrower than DATETIME
				ct.precision = -1
			}
		}
	case "timestamptz", "timestamp with time zone":
		ct.kind, ct.size = kindTZ, arg(0, 6)
	case "json", "jsonb":
		ct.kind = kindJSON
	case "uuid":
		ct.kind = kindUUID
	case "enum", "set":
		ct.kind = kindEnum
		if base == "set" {
			ct.kind = kindSet
		}
		for _, a := range args {
			ct.values = append(ct.values, unquoteSQL(strings.TrimSpace(a)))
		}
	default:
		ct.kind = base
		if len(nums) == 1 {
			ct.size = nums[0]
		}
	}
	return ct
}

// sqliteAffinity returns the type affinity SQLite gives a declared type
// (https://sqlite.org/datatype3.html, section 3.1). SQLite stores any value
// of the affinity whatever the declared size, so only the affinity matters.
func sqliteAffinity(t string) string {
	switch {
	case strings.Contains(t, "int"):
		return kindInt
	case strings.Contains(t, "char"), strings.Contains(t, "clob"), strings.Contains(t, "text"):
		return kindText
	case strings.Contains(t, "blob"), t == "":
		return kindBinary
	case strings.Contains(t, "real"), strings.Contains(t, "floa"), strings.Contains(t, "doub"):
		return kindFloat
	}
	return kindNumeric
}

// splitTypeArgs splits "numeric(10,2)" into "numeric" and ["10", "2"],
// keeping quoted enum values whole. Words after the parentheses
// ("int(11) unsigned") stay in the base.
func splitTypeArgs(t string) (string, []string) {
	open := strings.IndexByte(t, '(')
	if open < 0 {
		return t, nil
	}
	var args []string
	var cur strings.Builder
	inQuote := false
	i := open + 1
	for ; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '\'' && inQuote && i+1 < len(t) && t[i+1] == '\'':
			cur.WriteString("''")
			i++
			continue
		case c == '\'':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			args = append(args, cur.String())
			cur.Reset()
			continue
		case c == ')' && !inQuote:
			args = append(args, cur.String())
			base := strings.TrimSpace(t[:open] + " " + strings.TrimSpace(t[i+1:]))
			return base, args
		}
		cur.WriteByte(c)
	}
	return strings.TrimSpace(t[:open]), append(args, cur.String())
}

// unquoteSQL removes the single quotes around an SQL string literal.
func unquoteSQL(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// typeVerdict is how a type change affects old values and old code.
type typeVerdict int

const (
	typeSame     typeVerdict = iota
	typeWidened              // every old value fits, old code reads it the same way
	typeNarrowed             // same kind, but some old values no longer fit
	typeChanged              // another kind: old code reads or writes it differently
)

// compareTypes says how changing a column from type a to type b affects
// old values and old code.
func compareTypes(a, b colType) typeVerdict {
	if a.text == b.text {
		return typeSame
	}
	if a.kind != b.kind {
		return crossKind(a, b)
	}
	narrower := false
	switch a.kind {
	case kindArray:
		return compareTypes(*a.elem, *b.elem)
	case kindInt:
		narrower = b.size < a.size || a.unsigned != b.unsigned && b.size <= a.size || !a.unsigned && b.unsigned
	case kindDecimal:
		narrower = b.scale < a.scale || sub(b.precision, b.scale) < sub(a.precision, a.scale) || a.precision == unbounded && b.precision != unbounded
	case kindEnum, kindSet:
		narrower = !subset(a.values, b.values)
	case kindDateTime:
		narrower = b.size < a.size || b.precision < a.precision
	default:
		narrower = b.size < a.size
	}
	if narrower {
		return typeNarrowed
	}
	if a.size == b.size && a.scale == b.scale && a.precision == b.precision && a.unsigned == b.unsigned && slices.Equal(a.values, b.values) {
		return typeSame // spelt differently, e.g. two SQLite types of one affinity
	}
	return typeWidened
}

// crossKind judges a change between kinds. The few that keep every value
// and its reading are widenings; the rest change the kind.
func crossKind(a, b colType) typeVerdict {
	switch {
	case a.kind == kindInt && b.kind == kindDecimal && (b.scale == 0 || b.precision == unbounded):
		if sub(b.precision, 0) >= intDigits(a) {
			return typeWidened
		}
		return typeNarrowed
	case a.kind == kindDate && b.kind == kindDateTime:
		return typeWidened
	case a.kind == kindDateTime && b.kind == kindDate:
		return typeNarrowed
	case (a.kind == kindEnum || a.kind == kindUUID) && b.kind == kindText:
		if b.size >= maxLen(a) {
			return typeWidened
		}
		return typeNarrowed
	case a.kind == kindText && (b.kind == kindEnum || b.kind == kindUUID):
		return typeNarrowed
	}
	return typeChanged
}

// intDigits is the number of decimal digits the integer type a needs.
func intDigits(a colType) int64 {
	switch a.size {
	case 1:
		return 3
	case 2:
		return 5
	case 3:
		return 8
	case 4:
		return 10
	}
	return 20
}

func maxLen(a colType) int64 {
	if a.kind == kindUUID {
		return 36
	}
	n := 0
	for _, v := range a.values {
		n = max(n, len([]rune(v)))
	}
	return int64(n)
}

// sub is a-b where an unbounded a stays unbounded.
func sub(a, b int64) int64 {
	if a == unbounded {
		return unbounded
	}
	return a - b
}

func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}
