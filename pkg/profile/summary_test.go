package profile_test

import (
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
)

// hostileText is text as ids, tags and trait values may hold it: HTML
// characters, quotes and backslashes, control characters, line and
// paragraph separators, characters outside the BMP, and bytes that are no
// UTF-8.
func hostileText(r *rand.Rand) string {
	parts := []string{"a", "Zz09", "<", ">", "&", `"`, `\`, "\n", "\t", "\x00", "\x1f", "\u2028", "\u2029", "é", "台北", "😀", "\xff", "\xc3", "\xed\xa0\x80", "/", "\u007f"}
	var b strings.Builder
	for range r.IntN(8) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

// A summary's event carries the JSON encoding/json writes of it, byte for
// byte, and decodes to the summary it was made of; its id hashes what makes
// the summary.
func TestASummaryIsWrittenAsEncodingJSONWritesItAndReadBack(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3000 {
		s := profile.Summary{Customer: hostileText(r) + "c", Gone: r.IntN(5) == 0}
		if !s.Gone {
			s.Version, s.At = r.Int64N(1<<50), at.Add(time.Duration(r.Int64N(1<<50)))
			s.Orders, s.First, s.Last = r.IntN(100), at.Add(-time.Duration(r.Int64N(1<<55))), at.Add(-time.Duration(r.Int64N(1<<45)))
			s.F, s.M, s.Lifetime, s.Days, s.Repeat = r.IntN(100), r.Int64N(1<<60)-1<<59, r.Int64N(1<<62), r.IntN(50), r.Int64N(1<<40)
			s.Tier, s.Waterfall = hostileText(r), hostileText(r)
			for range r.IntN(4) {
				s.Tags = append(s.Tags, hostileText(r))
			}
			for range r.IntN(3) {
				s.Traits = append(s.Traits, event.Trait{Name: hostileText(r), Kind: event.TraitKind(r.IntN(4)), Text: hostileText(r)})
			}
		}
		e, err := s.Event("/profile-updater", "sf")
		if err != nil {
			t.Fatal(err)
		}
		// The id is the summary's as it has always been made: the first 16
		// bytes of a SHA-256 of this text, in hex.
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d\x00%t", "sf", s.Customer, s.Version, s.At.UnixMilli(), s.Gone))
		if want := hex.EncodeToString(sum[:16]); e.ID() != want {
			t.Fatalf("summary %d: id %s, want %s", i, e.ID(), want)
		}
		want, err := stdjson.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(e.Data()) != string(want) {
			t.Fatalf("summary %d: the event carries\n%s\nencoding/json writes\n%s", i, e.Data(), want)
		}
		got, ns, err := profile.SummaryOf(e)
		if err != nil || ns != "sf" {
			t.Fatalf("summary %d: read back in %q: %v", i, ns, err)
		}
		var std profile.Summary // what encoding/json reads of it
		if err := stdjson.Unmarshal(want, &std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("summary %d: read back as %+v, encoding/json reads %+v", i, got, std)
		}
	}
}
