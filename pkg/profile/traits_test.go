package profile_test

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
)

func identify(t *testing.T, id, customer string, at time.Time, traits string) profile.Op {
	return ev(t, id, event.Identify, customer, at, `{"user_id":"`+customer+`","traits":`+traits+`}`)
}

func TestTraitsAreKeptTypedAndTheLatestByEventTimeWins(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "traits")
	newer := identify(t, "i2", "mei", day(2), `{"city":"Hong Kong","age":21,"vip":true,"created_at":"2025-03-01T08:00:00+08:00","email":"mei@example.com"}`)
	older := identify(t, "i1", "mei", day(1), `{"city":"Taipei","age":20,"gender":"female"}`)
	// The newer identify arrives first: the older one, delivered late,
	// overwrites nothing it set, and adds what it alone knew.
	for _, op := range []profile.Op{newer, older} {
		if _, _, err := s.Apply(ctx, day(3), []profile.Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.Get(ctx, day(3), []string{"mei"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"city": "Hong Kong", "age": 21.0, "vip": true, "created_at": time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		"email": "mei@example.com", "gender": "female"}
	if !reflect.DeepEqual(ps[0].Traits, want) {
		t.Errorf("traits %#v\nwant %#v", ps[0].Traits, want)
	}
	sums, err := s.Summaries(ctx, []string{"mei"})
	if err != nil {
		t.Fatal(err)
	}
	wantSum := []event.Trait{{Name: "age", Kind: event.TraitNumber, Text: "21"}, {Name: "city", Kind: event.TraitString, Text: "Hong Kong"},
		{Name: "created_at", Kind: event.TraitTime, Text: "2025-03-01T00:00:00Z"}, {Name: "gender", Kind: event.TraitString, Text: "female"},
		{Name: "vip", Kind: event.TraitBool, Text: "true"}}
	if !reflect.DeepEqual(sums[0].Traits, wantSum) {
		t.Errorf("summary traits %v\nwant %v (no email: a contact trait)", sums[0].Traits, wantSum)
	}
}

func TestAnIdentifyBeyondTheTraitBoundsIsRefusedByField(t *testing.T) {
	// A producer writing to Kafka directly skips the collector: the
	// updater checks the same bounds.
	e := testenv.Event("i1", event.Identify, "mei", day(1), `{"user_id":"mei","traits":{"../x":1}}`)
	_, err := profile.OpOf(e, "USD")
	var ie *event.InvalidError
	if !errors.As(err, &ie) || ie.Errors[0].Field != "/data/traits/..~1x" {
		t.Fatalf("OpOf error %v, want an *event.InvalidError at /data/traits/..~1x", err)
	}
}

// oldRecord is a record as the store wrote it before traits were typed
// (format 1 without the kinds section): orders 1 of 5 USD at 1 s, traits
// consent.email, email and tier at 0.9 s.
const oldRecord = "000000000000000201020203d00fd00f0000000080ade2040000030d636f6e73656e742e656d61696c880e047472756505656d61696c880e0f616d79406578616d706c652e636f6d0474696572880e04676f6c640001036f3a31d00f80ade2040000000000"

func TestARecordWrittenBeforeTraitsWereTypedReadsItsTraitsAsStrings(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	s := newStore(t, rdb, "old")
	b, err := hex.DecodeString(oldRecord)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, keys.Customer("old", "amy")+"r", b, 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A typed identify joins the old record, which keeps its strings.
	if _, _, err := s.Apply(ctx, day(3), []profile.Op{identify(t, "i1", "amy", day(2), `{"age":30}`)}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Get(ctx, day(3), []string{"amy"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"email": "amy@example.com", "tier": "gold", "age": 30.0}
	if !reflect.DeepEqual(ps[0].Traits, want) || !ps[0].Consent["email"] || ps[0].Orders != 1 {
		t.Errorf("traits %v, consent %v, orders %d; want %v, email consent and 1 order", ps[0].Traits, ps[0].Consent, ps[0].Orders, want)
	}
}

func TestATagRuleReadsTypedTraits(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	ctx := context.Background()
	rules, err := tag.Compile(tag.Config{Tags: []tag.Rule{
		{Name: "young_hk", When: `traits[?"city"].orValue("") == "Hong Kong" && traits[?"age"].orValue(0) >= 18 && traits[?"age"].orValue(0) <= 24`},
		{Name: "vegetarian", When: `traits[?"diet.vegetarian"].orValue(false) == true`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := profile.New(rdb, profile.Config{Prefix: "tagged", Rules: rules})
	ops := []profile.Op{
		identify(t, "i1", "mei", day(1), `{"city":"Hong Kong","age":21,"diet":{"vegetarian":true}}`),
		identify(t, "i2", "kit", day(1), `{"city":"Hong Kong","age":"25"}`), // a string is no number: no match
		identify(t, "i3", "amy", day(1), `{"city":"Taipei","age":19,"diet":{"vegetarian":false}}`),
	}
	if _, _, err := s.Apply(ctx, day(2), ops); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Get(ctx, day(2), []string{"mei", "kit", "amy"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"vegetarian", "young_hk"}, nil, nil}
	for i, p := range ps {
		if !reflect.DeepEqual(p.Tags, want[i]) {
			t.Errorf("%s's tags %v, want %v", p.Customer, p.Tags, want[i])
		}
	}
}
