package version

import "strconv"

// maxShown is how many bytes of a value from outside (a peer's constraint, a
// bad field's value, a parser's message) a reason or error quotes.
const maxShown = 200

// clip bounds s for a message: s itself when it is at most maxShown bytes,
// else its first maxShown bytes (cut at a rune boundary) followed by an
// ellipsis and the full length, "… (880000 bytes)".
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
