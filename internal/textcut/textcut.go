// Package textcut shortens strings to a number of bytes without cutting a
// UTF-8 character in two: for values stored in columns of a fixed size
// and for log lines.
package textcut

import "unicode/utf8"

// Prefix returns the longest prefix of s of at most n bytes that ends on a
// character boundary: s itself when it is short enough.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:max(n, 0)]
}

// Ellipsis is what Mark appends to a string it cut.
const Ellipsis = "…"

// Mark is Prefix followed by [Ellipsis] when s was cut; the result may be
// up to len(Ellipsis) bytes longer than n.
func Mark(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Prefix(s, n) + Ellipsis
}
