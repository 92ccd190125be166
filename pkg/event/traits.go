package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TraitKind is the type of a trait's value.
type TraitKind uint8

// Kinds of trait values.
const (
	TraitString TraitKind = iota
	TraitNumber
	TraitBool
	TraitTime
)

var traitKindNames = [...]string{TraitString: "string", TraitNumber: "number", TraitBool: "bool", TraitTime: "time"}

func (k TraitKind) String() string {
	if int(k) < len(traitKindNames) {
		return traitKindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// MarshalText writes the kind's name.
func (k TraitKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *TraitKind) UnmarshalText(b []byte) error {
	i := slices.Index(traitKindNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("unknown trait kind %q", b)
	}
	*k = TraitKind(i)
	return nil
}

// Trait is one identify trait: its name, normalised (TraitName), and its
// value, typed.
type Trait struct {
	Name string    `json:"name"`
	Kind TraitKind `json:"kind"`
	// Text is the value in canonical form: the string itself, a number as
	// strconv.FormatFloat(x, 'g', -1, 64), "true" or "false", a time as
	// RFC 3339 in UTC.
	Text string `json:"value"`
}

// Value returns the value as Go: a string, float64, bool or time.Time (the
// zero value of its kind if Text is not of it).
func (t Trait) Value() any {
	switch t.Kind {
	case TraitNumber:
		x, _ := strconv.ParseFloat(t.Text, 64)
		return x
	case TraitBool:
		return t.Text == "true"
	case TraitTime:
		x, _ := time.Parse(time.RFC3339Nano, t.Text)
		return x
	}
	return t.Text
}

// JSON returns the value as event data carries it: a json.Number, a bool,
// or a string (a time as RFC 3339).
func (t Trait) JSON() any {
	switch t.Kind {
	case TraitNumber:
		return json.Number(t.Text)
	case TraitBool:
		return t.Text == "true"
	}
	return t.Text
}

// TraitName normalises a trait name as a client sends it: camelCase words
// are split by "_" (firstName is first_name), letters are lower-cased, and
// spaces and "-" become "_". It tells whether the result is a trait name:
// 1 to MaxTraitName bytes of a-z, 0-9, "_" and ".", "." only between words.
func TraitName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			if i > 0 && ('a' <= s[i-1] && s[i-1] <= 'z' || '0' <= s[i-1] && s[i-1] <= '9') {
				b.WriteByte('_')
			}
			b.WriteByte(c + 'a' - 'A')
		case c == ' ' || c == '-':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
		if b.Len() > MaxTraitName {
			return "", false
		}
	}
	name := b.String()
	if name == "" || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return name, false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return name, false
		}
	}
	return name, true
}

// Traits reads an identify's traits, the JSON object raw found at the JSON
// pointer ptr, as clients send them: names are normalised (TraitName), nested
// objects are flattened to dotted names (address.city), and each value is
// typed: a number (finite), true or false, or a string, which is a time when
// it is an RFC 3339 date-time (kept in UTC). Null is absent. Names that skip
// tells (after normalising, nil for none) are left out. The result is sorted
// by name; canonical traits read back to themselves.
//
// Every rule broken is a FieldError naming the member: a name that is not one
// after normalising, or the same as another's; an array; a string longer
// than MaxTraitValue bytes (MaxEmail for email); more than MaxTraits traits.
func Traits(ptr string, raw json.RawMessage, skip func(string) bool) ([]Trait, []FieldError) {
	var out []Trait
	var errs []FieldError
	seen := map[string]string{} // name -> pointer of its member
	var walk func(ptr, prefix string, raw json.RawMessage)
	walk = func(ptr, prefix string, raw json.RawMessage) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			errs = append(errs, FieldError{Field: ptr, Rule: "type", Message: "must be an object"})
			return
		}
		for _, key := range slices.Sorted(maps.Keys(fields)) {
			at := ptr + "/" + pointerEscaper.Replace(key)
			v := bytes.TrimSpace(fields[key])
			if len(v) == 0 || string(v) == "null" {
				continue
			}
			name, ok := TraitName(key)
			name = prefix + name
			if !ok || len(name) > MaxTraitName {
				errs = append(errs, FieldError{Field: at, Rule: "propertyNames",
					Message: fmt.Sprintf("is not a trait name: after lower-casing (firstName is first_name) it must be at most %d bytes of a-z, 0-9, _ and . with the names it is nested in", MaxTraitName)})
				continue
			}
			if skip != nil && skip(name) {
				continue
			}
			if v[0] == '{' {
				walk(at, name+".", v)
				continue
			}
			if other, dup := seen[name]; dup {
				errs = append(errs, FieldError{Field: at, Rule: "unique", Message: fmt.Sprintf("is trait %s, as %s is", name, other)})
				continue
			}
			seen[name] = at
			t, fe := traitOf(at, name, v)
			if fe != nil {
				errs = append(errs, *fe)
				continue
			}
			out = append(out, t)
		}
	}
	walk(ptr, "", raw)
	if len(out) > MaxTraits {
		errs = append(errs, FieldError{Field: ptr, Rule: "maxProperties", Message: fmt.Sprintf("has %d traits: at most %d are kept", len(out), MaxTraits)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	slices.SortFunc(out, func(a, b Trait) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// traitOf types the value v of trait name, at the pointer at.
func traitOf(at, name string, v json.RawMessage) (Trait, *FieldError) {
	t := Trait{Name: name}
	switch c := v[0]; {
	case c == 't' || c == 'f':
		var x bool
		if json.Unmarshal(v, &x) != nil {
			return t, &FieldError{Field: at, Rule: "type", Message: "must be a string, a number, true or false"}
		}
		t.Kind, t.Text = TraitBool, strconv.FormatBool(x)
	case c == '-' || '0' <= c && c <= '9':
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return t, &FieldError{Field: at, Rule: "type", Message: "must be a finite number"}
		}
		t.Kind, t.Text = TraitNumber, strconv.FormatFloat(x, 'g', -1, 64)
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return t, &FieldError{Field: at, Rule: "type", Message: "must be a string"}
		}
		limit := MaxTraitValue
		if name == "email" {
			limit = MaxEmail
		}
		if len(s) > limit {
			return t, &FieldError{Field: at, Rule: "maxLength", Message: fmt.Sprintf("must be at most %d bytes", limit)}
		}
		t.Kind, t.Text = TraitString, s
		if x, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t.Kind, t.Text = TraitTime, x.UTC().Format(time.RFC3339Nano)
		}
	default:
		return t, &FieldError{Field: at, Rule: "type", Message: "must be a string, a number, true, false or an object of these: arrays are not kept"}
	}
	return t, nil
}
