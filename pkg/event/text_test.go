package event_test

import (
	"fmt"
	"testing"

	"github.com/segflow/segflow/pkg/event"
)

func TestTextErrorsNameEachStringADecoderWouldReadAsReplacementCharacters(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want string // field:rule of each error
	}{
		{"plain ASCII is text", `{"user_id":"u1","n":[1,true,null]}`, "[]"},
		{"UTF-8 beyond ASCII is text", `{"user_id":"顧客-1","name":"Zoë"}`, "[]"},
		{"U+FFFD itself is text", "{\"user_id\":\"u\uFFFD\",\"x\":\"\\ufffd\",\"y\":\"\\uFFFD\"}", "[]"},
		{"an escaped surrogate pair is text", `{"user_id":"u\ud83d\ude00"}`, "[]"},
		{"an escaped backslash before u is not an escape", `{"user_id":"u\\ud800"}`, "[]"},
		{"a byte that is not UTF-8", "{\"user_id\":\"u\xff\"}", "[/user_id:utf8]"},
		{"a truncated sequence", "{\"user_id\":\"u\xe2\x82\"}", "[/user_id:utf8]"},
		{"an unpaired high surrogate", `{"user_id":"u\ud800"}`, "[/user_id:utf8]"},
		{"an unpaired low surrogate", `{"user_id":"\udc00u"}`, "[/user_id:utf8]"},
		{"two surrogates that are not a pair", `{"user_id":"\ud800\ud800"}`, "[/user_id:utf8]"},
		{"deep in arrays and objects", "{\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\xff\"}]}", "[/items/1/sku:utf8]"},
		{"every bad string, after good ones", "{\"a\":\"ok\",\"b\":\"\xff\",\"c\":[\"\xfe\"]}", "[/b:utf8 /c/0:utf8]"},
		{"member names are escaped in pointers", "{\"a/b~c\":\"\xff\"}", "[/a~1b~0c:utf8]"},
		{"a bad member name is reported at its object", "{\"o\":{\"k\xff\":1}}", "[/o:utf8]"},
		{"a bare string document", "\"\xff\"", "[:utf8]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, fe := range event.TextErrors("", []byte(tc.raw)) {
				got = append(got, fe.Field+":"+fe.Rule)
			}
			if fmt.Sprint(got) != tc.want && !(len(got) == 0 && tc.want == "[]") {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
	if got := event.TextErrors("/data", []byte("{\"user_id\":\"\xff\"}")); len(got) != 1 || got[0].Field != "/data/user_id" {
		t.Errorf("below /data: %v, want /data/user_id", got)
	}
}

func BenchmarkTextErrorsOfValidText(b *testing.B) {
	raw := []byte(`{"user_id":"顧客-1","order_id":"o-1","total":"19.99","items":[{"sku":"S1","name":"Zoë's jacket","price":"19.99","quantity":1}]}`)
	for b.Loop() {
		event.TextErrors("", raw)
	}
}
