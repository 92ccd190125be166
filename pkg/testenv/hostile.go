package testenv

import (
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// hostileParts are what hostile ids are made of: hash-tag and key
// delimiters, glob characters, escapes, the names of shared slots and of
// key prefixes, the anonymous prefix, bytes that are not text.
var hostileParts = []string{
	"{", "}", ":", "*", "?", "[", "]", "\\", "^", "-", "%", "#", "%7D", "%25", " ", "\t", "\n", "\x00", "\x7f",
	"rfm", "timers", "ix", "replay", "namespace", "erased", "audit", "stats:", "budget:", "seen:",
	"sf", "tr", "sf:{", "}:p", "}:link", "tr:{", "privacy:{#erased}", "{#rfm}", "anon:", "c1", "cust-000",
	"é", "顧客", "🛒", "\u202e", "\ufeff",
}

// HostileIDs returns n distinct ids, valid UTF-8 of 1 to 256 bytes, made to
// break key layouts: every part of hostileParts alone, then random
// concatenations of them and of random text, the longest at 256 bytes.
// The same seed gives the same ids.
func HostileIDs(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 11))
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		for len(id) > 256 || !utf8.ValidString(id) {
			_, size := utf8.DecodeLastRuneInString(id)
			id = id[:len(id)-size]
		}
		if id != "" && !seen[id] && len(out) < n {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, p := range hostileParts {
		add(p)
	}
	add(strings.Repeat("}", 256))
	add(strings.Repeat("顧", 85))
	for len(out) < n {
		var b strings.Builder
		for range 1 + r.IntN(8) {
			if r.IntN(4) == 0 {
				b.WriteRune(rune(0x20 + r.IntN(0x2fff)))
			} else {
				b.WriteString(hostileParts[r.IntN(len(hostileParts))])
			}
		}
		if r.IntN(20) == 0 {
			b.WriteString(strings.Repeat("x", 250))
		}
		add(b.String())
	}
	return out
}
