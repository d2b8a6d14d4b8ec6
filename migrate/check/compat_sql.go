package check

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rollsafe/rollsafe/dialect"
)

// This file splits migration SQL into statements and tokens for the
// statement-text rules. It knows comments, string literals, quoted
// identifiers and PostgreSQL dollar quoting of all three dialects, so a ';'
// or a keyword inside any of them never counts. It is not a parser: the
// rules look at the first tokens of each statement.

// tokKind is the kind of a token.
type tokKind uint8

const (
	tokWord   tokKind = iota // keyword or unquoted identifier
	tokIdent                 // quoted identifier: "x", `x`, [x]
	tokString                // string literal, including E'', X'', $tag$…$tag$
	tokNumber
	tokPunct // one character of punctuation
)

// token is one lexical token of a statement.
type token struct {
	kind tokKind
	// text is the token as written, except for quoted identifiers and
	// strings, whose text is the content without quotes (escapes kept).
	text string
}

// is reports whether t is the keyword kw (upper case).
func (t token) is(kw string) bool { return t.kind == tokWord && strings.EqualFold(t.text, kw) }

// punct reports whether t is the punctuation character c.
func (t token) punct(c byte) bool { return t.kind == tokPunct && len(t.text) == 1 && t.text[0] == c }

// name returns the identifier t names as the database folds it: quoted
// identifiers as written, unquoted ones in lower case.
func (t token) name() string {
	if t.kind == tokIdent {
		return t.text
	}
	return strings.ToLower(t.text)
}

// stmt is one statement.
type stmt struct {
	toks []token
	text string // source text, whitespace folded, for messages
}

// splitSQL returns the statements of src, a migration section, in order.
// Empty statements (";;", comments only) are left out. Routine and trigger
// bodies (CREATE TRIGGER … BEGIN … END) stay in one statement.
func splitSQL(src string, d dialect.Dialect) []stmt {
	lx := lexer{src: src, dialect: d}
	var out []stmt
	var cur []token
	start := -1 // byte offset of the current statement's first token
	depth := 0  // BEGIN/CASE … END nesting inside a routine body
	flush := func(end int) {
		if len(cur) > 0 {
			out = append(out, stmt{toks: cur, text: strings.Join(strings.Fields(src[start:end]), " ")})
		}
		cur, start, depth = nil, -1, 0
	}
	for {
		t, ok := lx.next()
		if !ok {
			break
		}
		if t.punct(';') && depth == 0 {
			flush(lx.pos - 1)
			continue
		}
		if start < 0 {
			start = lx.tokStart
		}
		if isRoutine(cur) {
			switch {
			case t.is("BEGIN") || t.is("CASE"):
				depth++
			case t.is("END") && depth > 0:
				if !lx.endOfBlockKeyword() {
					depth--
				}
			}
		}
		cur = append(cur, t)
	}
	flush(len(src))
	return out
}

// isRoutine reports whether the statement so far creates a trigger or a
// routine, whose body holds statements of its own.
func isRoutine(toks []token) bool {
	if len(toks) == 0 || !toks[0].is("CREATE") {
		return false
	}
	for _, t := range toks[1:min(len(toks), 8)] {
		if t.is("TRIGGER") || t.is("PROCEDURE") || t.is("FUNCTION") || t.is("EVENT") {
			return true
		}
	}
	return false
}

// lexer reads tokens from SQL text.
type lexer struct {
	src      string
	dialect  dialect.Dialect
	pos      int
	tokStart int
}

// endOfBlockKeyword reports whether the word after an END is IF, LOOP,
// WHILE, REPEAT or FOR (MySQL's END IF and friends close blocks that are
// not counted).
func (lx *lexer) endOfBlockKeyword() bool {
	save := lx.pos
	saveStart := lx.tokStart
	t, ok := lx.next()
	lx.pos, lx.tokStart = save, saveStart
	return ok && (t.is("IF") || t.is("LOOP") || t.is("WHILE") || t.is("REPEAT") || t.is("FOR"))
}

// next returns the next token, skipping whitespace and comments; false at
// the end of the text. Unterminated literals and comments run to the end.
func (lx *lexer) next() (token, bool) {
	s := lx.src
	for lx.pos < len(s) {
		c := s[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			lx.pos++
		case c == '-' && strings.HasPrefix(s[lx.pos:], "--"), c == '#' && lx.dialect == dialect.MySQL:
			lx.skipLine()
		case c == '/' && strings.HasPrefix(s[lx.pos:], "/*"):
			lx.skipBlockComment()
		default:
			lx.tokStart = lx.pos
			return lx.token(), true
		}
	}
	return token{}, false
}

func (lx *lexer) skipLine() {
	if i := strings.IndexByte(lx.src[lx.pos:], '\n'); i >= 0 {
		lx.pos += i + 1
		return
	}
	lx.pos = len(lx.src)
}

// skipBlockComment skips /* … */; PostgreSQL nests them.
func (lx *lexer) skipBlockComment() {
	depth := 0
	for lx.pos < len(lx.src) {
		switch {
		case strings.HasPrefix(lx.src[lx.pos:], "/*"):
			depth++
			lx.pos += 2
		case strings.HasPrefix(lx.src[lx.pos:], "*/"):
			depth--
			lx.pos += 2
			if depth == 0 || lx.dialect != dialect.Postgres {
				return
			}
		default:
			lx.pos++
		}
	}
}

func (lx *lexer) token() token {
	s, start := lx.src, lx.pos
	c := s[start]
	switch {
	case c == '\'':
		return token{kind: tokString, text: lx.quoted('\'', lx.dialect == dialect.MySQL)}
	case (c == 'E' || c == 'e') && lx.dialect == dialect.Postgres && strings.HasPrefix(s[start+1:], "'"):
		lx.pos++
		return token{kind: tokString, text: lx.quoted('\'', true)}
	case (c == 'X' || c == 'x' || c == 'B' || c == 'b' || c == 'N' || c == 'n') && strings.HasPrefix(s[start+1:], "'"):
		lx.pos++
		return token{kind: tokString, text: lx.quoted('\'', lx.dialect == dialect.MySQL)}
	case c == '"':
		if lx.dialect == dialect.MySQL { // a string unless ANSI_QUOTES; either way a literal
			return token{kind: tokString, text: lx.quoted('"', true)}
		}
		return token{kind: tokIdent, text: lx.quoted('"', false)}
	case c == '`':
		return token{kind: tokIdent, text: lx.quoted('`', false)}
	case c == '[' && lx.dialect == dialect.SQLite:
		end := strings.IndexByte(s[start+1:], ']')
		if end < 0 {
			lx.pos = len(s)
			return token{kind: tokIdent, text: s[start+1:]}
		}
		lx.pos = start + 1 + end + 1
		return token{kind: tokIdent, text: s[start+1 : start+1+end]}
	case c == '$' && lx.dialect == dialect.Postgres:
		if tag, ok := dollarTag(s[start:]); ok {
			body := s[start+len(tag):]
			end := strings.Index(body, tag)
			if end < 0 {
				lx.pos = len(s)
				return token{kind: tokString, text: body}
			}
			lx.pos = start + len(tag) + end + len(tag)
			return token{kind: tokString, text: body[:end]}
		}
	case c >= '0' && c <= '9':
		i := start
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		lx.pos = i
		return token{kind: tokNumber, text: s[start:i]}
	}
	r, size := utf8.DecodeRuneInString(s[start:])
	if isWordRune(r) {
		i := start
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !isWordRune(r) && !(r >= '0' && r <= '9') && r != '$' {
				break
			}
			i += size
		}
		lx.pos = i
		return token{kind: tokWord, text: s[start:i]}
	}
	lx.pos = start + size
	return token{kind: tokPunct, text: s[start : start+size]}
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || (r >= 0x80 && r != utf8.RuneError && !unicode.IsSpace(r) && !unicode.IsPunct(r))
}

// quoted reads a literal closed by q, where a doubled q stands for one and,
// when backslash is true, a backslash escapes the next byte. lx.pos is at
// the opening quote. It returns the content.
func (lx *lexer) quoted(q byte, backslash bool) string {
	s := lx.src
	i := lx.pos + 1
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' && backslash && i+1 < len(s):
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i += 2
			continue
		case c == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i += 2
			continue
		case c == q:
			lx.pos = i + 1
			return b.String()
		}
		b.WriteByte(c)
		i++
	}
	lx.pos = len(s)
	return b.String()
}

// dollarTag returns the opening "$tag$" at the start of s.
func dollarTag(s string) (string, bool) {
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '$' {
			return s[:i+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 1 && c >= '0' && c <= '9' || c >= 0x80) {
			return "", false
		}
	}
	return "", false
}
