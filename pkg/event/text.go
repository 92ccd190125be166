package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxID is the longest id, in characters, that segflow accepts: user,
// anonymous, message, event, order and product ids alike (the id of
// schemas/defs.json).
const MaxID = 256

// TextErrors returns a field error for each string of the JSON document raw,
// member name or value, that is not valid UTF-8 text: bytes that are not
// UTF-8, or an escaped unpaired surrogate ("\ud800"). A JSON decoder silently
// reads either as U+FFFD, so two different ids would read as one. Fields are
// JSON pointers below base. An invalid document yields the errors found
// before the point where it stops being JSON.
func TextErrors(base string, raw []byte) []FieldError {
	if utf8.Valid(raw) && !hasSurrogateEscape(raw) {
		return nil
	}
	type frame struct {
		ptr     string // of the object or array
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []frame
	here := func() string { // the pointer of the value about to be read
		if len(stack) == 0 {
			return base
		}
		f := stack[len(stack)-1]
		if f.obj {
			return f.ptr + "/" + pointerEscaper.Replace(f.key)
		}
		return f.ptr + "/" + strconv.Itoa(f.idx)
	}
	next := func() { // a value was read
		if len(stack) == 0 {
			return
		}
		f := &stack[len(stack)-1]
		if f.obj {
			f.wantKey = true
		} else {
			f.idx++
		}
	}
	var errs []FieldError
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			return errs
		}
		lit := raw[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				stack = append(stack, frame{ptr: here(), obj: tok == '{', wantKey: tok == '{'})
			default:
				stack = stack[:len(stack)-1]
				next()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				if replaced(lit, tok) {
					errs = append(errs, FieldError{Field: stack[n-1].ptr, Rule: "utf8", Message: "a member name is not valid UTF-8 text"})
				}
				stack[n-1].key, stack[n-1].wantKey = tok, false
				continue
			}
			if replaced(lit, tok) {
				errs = append(errs, FieldError{Field: here(), Rule: "utf8",
					Message: "must be valid UTF-8 text: invalid bytes or an unpaired surrogate escape would read as U+FFFD, the same as other values"})
			}
			next()
		default:
			next()
		}
	}
}

// pointerEscaper escapes a member name as a JSON pointer's reference token
// (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// replaced tells whether decoding the string literal lit (with whatever
// separators precede it) to s replaced anything by U+FFFD.
func replaced(lit []byte, s string) bool {
	if !utf8.Valid(lit) {
		return true
	}
	n := strings.Count(s, "\uFFFD")
	if n == 0 {
		return false
	}
	return n > bytes.Count(lit, []byte("\uFFFD"))+bytes.Count(bytes.ToLower(lit), []byte(`\ufffd`))
}

// hasSurrogateEscape tells whether raw may hold an escaped surrogate
// (\uD800-\uDFFF), paired or not.
func hasSurrogateEscape(raw []byte) bool {
	for {
		i := bytes.Index(raw, []byte(`\u`))
		if i < 0 || i+3 >= len(raw) {
			return false
		}
		if (raw[i+2] == 'd' || raw[i+2] == 'D') && strings.IndexByte("89abcdefABCDEF", raw[i+3]) >= 0 {
			return true
		}
		raw = raw[i+2:]
	}
}
