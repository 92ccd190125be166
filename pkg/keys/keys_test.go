package keys

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTagKeepsPlainIDsReadable(t *testing.T) {
	for _, id := range []string{"cust-42", "anon:visitor-7", "a.b@example.com", "顧客-1", "0042"} {
		if got := Tag(id); got != id {
			t.Errorf("Tag(%q) = %q, want it unchanged", id, got)
		}
	}
}

func TestTagEscapesWhatCouldNameAnotherKey(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"c1}:p", "c1%7D:p"},
		{"{rfm}", "%7Brfm%7D"},
		{"#rfm", "%23rfm"},
		{"*", "%2A"},
		{"a?b[c]\\", "a%3Fb%5Bc%5D%5C"},
		{"100%", "100%25"},
		{"a b\x00\n\x7f", "a%20b%00%0A%7F"},
	} {
		if got := Tag(tc.id); got != tc.want {
			t.Errorf("Tag(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestCustomerKeysOfHostileIDsStayInTheirOwnSlot(t *testing.T) {
	for _, id := range []string{"rfm", "timers", "#rfm", "c1}:p", "c1", "}{", "ix}:seg:x"} {
		base := Customer("sf", id)
		if strings.Count(base, "{") != 1 || strings.Count(base, "}") != 1 {
			t.Errorf("Customer(%q) = %q: want exactly one hash tag", id, base)
		}
		if base == Shared("sf", "rfm")+":" || strings.HasPrefix(base, "sf:{#") {
			t.Errorf("Customer(%q) = %q names a shared slot", id, base)
		}
		got, suffix, ok := CustomerOf("sf", base+"p")
		if !ok || got != id || suffix != "p" {
			t.Errorf("CustomerOf(%q) = %q, %q, %v; want %q, p", base+"p", got, suffix, ok, id)
		}
	}
	if _, _, ok := CustomerOf("sf", Shared("sf", "rfm")+":f"); ok {
		t.Error("CustomerOf takes a shared key for a customer's")
	}
}

func TestUntagRefusesWhatTagNeverWrites(t *testing.T) {
	for _, tag := range []string{"%", "%4", "%zz", "%41", "a{b", "#x", "%7d"} {
		if id, err := Untag(tag); err == nil {
			t.Errorf("Untag(%q) = %q, want an error", tag, id)
		}
	}
}

// FuzzTag checks, for any bytes, that the tag reverses to the id, holds no
// hash-tag delimiter, glob character, space or control byte, never begins a
// shared tag, and is valid UTF-8 whenever the id is.
func FuzzTag(f *testing.F) {
	for _, s := range []string{"", "cust-42", "c1}:p", "{rfm}", "#ix", "*", "anon:x", "\x00\xff", "顧客"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		tag := Tag(id)
		back, err := Untag(tag)
		if err != nil || back != id {
			t.Fatalf("Untag(Tag(%q)) = %q, %v", id, back, err)
		}
		if strings.ContainsAny(tag, "{}*?[]\\ #") || strings.HasPrefix(tag, "#") {
			t.Fatalf("Tag(%q) = %q holds a delimiter", id, tag)
		}
		for i := 0; i < len(tag); i++ {
			if tag[i] < 0x20 || tag[i] == 0x7f {
				t.Fatalf("Tag(%q) = %q holds a control byte", id, tag)
			}
		}
		if utf8.ValidString(id) && !utf8.ValidString(tag) {
			t.Fatalf("Tag(%q) = %q is not valid UTF-8", id, tag)
		}
	})
}
