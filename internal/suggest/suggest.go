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
		if d := editDistance(k, strings.ToLower(c)); d < bestD && 2*d < len(k) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
