package postgres

import (
	"sort"
	"unicode/utf8"
)

// Listings compare keys in byte order (the C collation), but PostgreSQL's
// text holds only valid UTF-8 without NUL, and refuses any other parameter.
// Keys always are such text; prefixes and markers need not be: clients
// send them, objects.List passes P+"\xff" to skip every key under a common
// prefix P, and a marker "after M" is the bound "at least M+NUL". So each
// bound is passed as the least text at or above it (textCeil), which
// selects the same keys: a key k is at least b exactly when it is at least
// textCeil(b), since k is text.

// textCeil returns the least string PostgreSQL's text holds that is not
// less than b in byte order, or nil when every such string is less (a
// NULL, which no comparison passes). b is cut at its first NUL or byte
// that is not UTF-8; at a NUL the least text above is the byte 0x01 there,
// and at a bad byte the least rune whose encoding sorts above the rest
// (if no rune does, the least text above everything with the prefix cut).
func textCeil(b string) any {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRuneInString(b[i:])
		switch {
		case r == 0:
			return b[:i] + "\x01"
		case r == utf8.RuneError && n == 1:
			if c, ok := runeAbove(b[i:]); ok {
				return b[:i] + string(c)
			}
			return prefixEnd(b[:i])
		}
		i += n
	}
	return b
}

// runeAbove returns the least rune whose UTF-8 encoding sorts above rest,
// which starts with a byte that begins no valid encoding: no rune's
// encoding equals it or is a prefix of it. UTF-8 keeps the order of code
// points, so a binary search over them (the surrogates left out) finds it.
func runeAbove(rest string) (rune, bool) {
	const n = utf8.MaxRune + 1 - 0x800 // code points but the surrogates
	at := func(i int) rune {
		if i >= 0xd800 {
			return rune(i + 0x800)
		}
		return rune(i)
	}
	i := sort.Search(n, func(i int) bool { return string(at(i)) > rest })
	return at(i), i < n
}

// prefixEnd returns the least text greater than every string that starts
// with prefix (any bytes), or nil when there is none (a prefix empty or of
// only 0xff bytes): the prefix with its last byte below 0xff incremented
// and the rest cut, raised to text.
func prefixEnd(prefix string) any {
	i := len(prefix) - 1
	for i >= 0 && prefix[i] == 0xff { // not strings.TrimRight: it trims runes
		i--
	}
	if i < 0 {
		return nil
	}
	return textCeil(prefix[:i] + string([]byte{prefix[i] + 1}))
}
