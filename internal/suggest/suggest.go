// Package suggest finds the name a mistyped one was meant to be, for
// "did you mean …?" in error messages.
package suggest

import "strings"

// Nearest returns the candidate closest to s in edit distance, ignoring
// case, if it is close enough to be a typo: at most 2 edits, and fewer
// than half of s's length; "" otherwise. The candidate is returned as
// given.
func Nearest(s string, candidates []string) string {
	k := strings.ToLower(s)
	best, bestD := "", 3
	for _, c := range candidates {
		if d := Distance(k, strings.ToLower(c)); d < bestD && 2*d < len(k) {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
