package audience

import (
	"math"
	"strconv"
	"strings"
)

// traitPrefix starts a comparison of a trait.
const traitPrefix = "trait:"

// lexCompare reads the comparison that starts at s[i] ("trait:"): a
// "compare" token, or a "bad" one saying what is wrong; and where the next
// token starts.
func lexCompare(s string, i int) (token, int) {
	pos := i
	bad := func(at int, msg string) (token, int) {
		j := at
		for j < len(s) && !strings.ContainsRune(" \t\n\r()", rune(s[j])) {
			j++
		}
		return token{kind: "bad", pos: pos, err: &SyntaxError{Pos: at, Msg: msg}}, max(j, at+1)
	}
	j := i + len(traitPrefix)
	start := j
	for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9' || s[j] == '_' || s[j] == '.') {
		j++
	}
	if name := s[start:j]; name == "" || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return bad(start, "expected a trait name (a-z, 0-9, _ and ., dots between words) after trait:")
	}
	c := Compare{Trait: s[start:j]}
	j = skipSpace(s, j)
	for _, op := range []Op{Ne, Le, Ge, Eq, Lt, Gt} {
		if strings.HasPrefix(s[j:], string(op)) {
			c.Op = op
			j += len(op)
			break
		}
	}
	if c.Op == "" {
		return bad(j, "expected =, !=, <, <=, > or >= after trait:"+c.Trait)
	}
	j = skipSpace(s, j)
	at := j
	switch {
	case j < len(s) && s[j] == '"':
		end := j + 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) {
			return bad(at, "a quoted string is not closed")
		}
		v, err := strconv.Unquote(s[j : end+1])
		if err != nil {
			return bad(at, "a quoted string is malformed: "+err.Error())
		}
		c.Value, j = v, end+1
	default:
		for j < len(s) && !strings.ContainsRune(" \t\n\r()", rune(s[j])) {
			j++
		}
		switch w := s[at:j]; {
		case w == "":
			return bad(at, "expected a quoted string, a number, true or false")
		case strings.EqualFold(w, "true") || strings.EqualFold(w, "false"):
			c.Value = strings.EqualFold(w, "true")
		default:
			x, err := strconv.ParseFloat(w, 64)
			if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
				return bad(at, "expected a quoted string, a finite number, true or false, found "+strconv.Quote(w))
			}
			c.Value = x
		}
	}
	if _, ok := c.Value.(bool); ok && c.Op != Eq && c.Op != Ne {
		return bad(at, "true and false compare by = and != only")
	}
	return token{kind: "compare", text: s[pos:j], pos: pos, cmp: c}, j
}

func skipSpace(s string, j int) int {
	for j < len(s) && strings.ContainsRune(" \t\n\r", rune(s[j])) {
		j++
	}
	return j
}
