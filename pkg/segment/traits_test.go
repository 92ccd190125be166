package segment

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/event"
)

// identifyWith is an identify message whose traits object is traits.
func identifyWith(traits string) string {
	return `{"type":"identify","messageId":"m-1","userId":"u-1","timestamp":"2024-05-01T11:00:00Z","traits":` + traits + `}`
}

func TestIdentifyKeepsEveryTraitTyped(t *testing.T) {
	e, err := ToEvent(json.RawMessage(identifyWith(`{"gender":"female","age":21,"income":32000.5,"vip":true,"vegetarian":false,
		"createdAt":"2023-02-01T08:00:00+08:00","address":{"city":"Hong Kong","geo":{"lat":22.3}},"Risk Appetite":"low","nothing":null}`)), received, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	checkValid(t, e)
	sameJSON(t, e.Data(), `{"user_id":"u-1","channel":"web","traits":{"gender":"female","age":21,"income":32000.5,"vip":true,"vegetarian":false,
		"created_at":"2023-02-01T00:00:00Z","address.city":"Hong Kong","address.geo.lat":22.3,"risk_appetite":"low"}}`)
}

func TestIdentifyPrefersTopLevelTraitsToTheContexts(t *testing.T) {
	msg := `{"type":"identify","messageId":"m-1","userId":"u-1","traits":{"city":"Hong Kong"},"context":{"traits":{"city":"Taipei","diet":"vegetarian"}}}`
	e, err := ToEvent(json.RawMessage(msg), received, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, e.Data(), `{"user_id":"u-1","channel":"web","traits":{"city":"Hong Kong","diet":"vegetarian"}}`)
}

func TestIdentifyRejectsTraitsBeyondTheirBoundsByField(t *testing.T) {
	many := make([]string, event.MaxTraits+1)
	for i := range many {
		many[i] = `"t` + strconv.Itoa(i) + `":1`
	}
	for _, tc := range []struct {
		name, traits, field, rule string
	}{
		{"a name with a path is no trait name", `{"../x":1}`, "/traits/..~1x", "propertyNames"},
		{"a name with braces is no trait name", `{"{c}":"x"}`, "/traits/{c}", "propertyNames"},
		{"a name beyond 64 bytes is refused", `{"` + strings.Repeat("a", event.MaxTraitName+1) + `":1}`, "/traits/" + strings.Repeat("a", event.MaxTraitName+1), "propertyNames"},
		{"a nested name beyond 64 bytes in all is refused", `{"` + strings.Repeat("a", 40) + `":{"` + strings.Repeat("b", 30) + `":1}}`, "/traits/" + strings.Repeat("a", 40) + "/" + strings.Repeat("b", 30), "propertyNames"},
		{"a name of non-ASCII letters is no trait name", `{"城市":"x"}`, "/traits/城市", "propertyNames"},
		{"a name that is not UTF-8 is refused", "{\"c\xffity\":\"x\"}", "/traits", "utf8"},
		{"two names that normalise alike are refused", `{"firstName":"a","first_name":"b"}`, "/traits/first_name", "unique"},
		{"a string beyond 256 bytes is refused", `{"bio":"` + strings.Repeat("é", 129) + `"}`, "/traits/bio", "maxLength"},
		{"a number beyond float64 is refused", `{"income":1e999}`, "/traits/income", "type"},
		{"an array is refused", `{"interests":["coffee"]}`, "/traits/interests", "type"},
		{"more than 64 traits are refused", `{` + strings.Join(many, ",") + `}`, "/traits", "maxProperties"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToEvent(json.RawMessage(identifyWith(tc.traits)), received, testOpts)
			var ie *event.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("ToEvent error = %v, want an *event.InvalidError", err)
			}
			for _, fe := range ie.Errors {
				if fe.Field == tc.field && fe.Rule == tc.rule {
					return
				}
			}
			t.Errorf("errors %v, want one at %s (rule %s)", ie.Errors, tc.field, tc.rule)
		})
	}
}

// Whatever traits a client sends, an identify is refused by field or mapped
// to data that validates against the schema, whose traits read back as
// themselves (what the profile-updater reads them with).
func FuzzIdentifyTraits(f *testing.F) {
	for _, s := range []string{
		`{"age":21,"address":{"city":"Hong Kong"},"vip":true,"createdAt":"2025-03-01T08:00:00+08:00"}`,
		`{"../x":1}`, `{"{c}":"x"}`, `{"a.b":1,"a":{"b":2}}`, `{"firstName":"a","first_name":"b"}`, `{"x":[1]}`,
		`{"n":1e308,"m":-0,"s":"\u0000"}`, `{"A-B C":"x"}`, `{"t":"2024-02-30T00:00:00Z"}`, `{"e":"` + strings.Repeat("é", 200) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, traits []byte) {
		if !json.Valid(traits) {
			return
		}
		e, err := ToEvent(json.RawMessage(identifyWith(string(traits))), received, testOpts)
		if err != nil {
			var ie *event.InvalidError
			if !errors.As(err, &ie) || len(ie.Errors) == 0 {
				t.Fatalf("ToEvent error = %v, want an *event.InvalidError", err)
			}
			return
		}
		checkValid(t, e)
		var d struct {
			Traits json.RawMessage `json:"traits"`
		}
		if err := json.Unmarshal(e.Data(), &d); err != nil || d.Traits == nil {
			return
		}
		once, errs := event.Traits("/data/traits", d.Traits, nil)
		if len(errs) > 0 {
			t.Fatalf("mapped traits %s are refused when read back: %v", d.Traits, errs)
		}
		again := map[string]any{}
		for _, tr := range once {
			again[tr.Name] = tr.JSON()
		}
		b, _ := json.Marshal(again)
		twice, errs := event.Traits("/data/traits", b, nil)
		if len(errs) > 0 || !slices.Equal(once, twice) {
			t.Fatalf("traits %v read back as %v, %v", once, twice, errs)
		}
	})
}
