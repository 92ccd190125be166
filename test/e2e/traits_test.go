package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/testenv"
)

// TestIdentifyTraitsReachTheProfileAudiencesAndCountsTypedThroughThePipeline
// sends Segment identify calls with nested traits through the collector and
// the profile-updater on redis-server, and reads them from the read API: the
// profile shows every trait typed, the older of two identifies delivered
// last changes nothing it set, audiences select by trait comparisons exactly
// the customers an independent filter does, a trait's values are counted,
// and an erasure leaves nothing of the traits.
func TestIdentifyTraitsReachTheProfileAudiencesAndCountsTypedThroughThePipeline(t *testing.T) {
	T := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	now := func() time.Time { return T }
	p := startPipeline(t, now, "USD")
	at := func(d time.Duration) string { return T.Add(-d).Format(time.RFC3339Nano) }
	identify := func(id, user string, d time.Duration, traits map[string]any) map[string]any {
		return map[string]any{"type": "identify", "messageId": id, "userId": user, "timestamp": at(d), "traits": traits}
	}
	people := []struct {
		id   string
		city string
		age  float64
	}{{"mei", "Hong Kong", 21}, {"kit", "Hong Kong", 30}, {"ana", "Taipei", 19}, {"lee", "Hong Kong", 18}, {"bo", "Macau", 24}}
	var calls []map[string]any
	for _, pp := range people {
		calls = append(calls, identify("id-"+pp.id, pp.id, time.Hour, map[string]any{
			"email": pp.id + "@example.com", "age": pp.age, "vip": pp.age < 20, "createdAt": "2025-03-01T08:00:00+08:00",
			"address": map[string]any{"city": pp.city, "geo": map[string]any{"lat": 22.3}}, "Risk Appetite": "low",
		}))
	}
	// Delivered after the newer identify: an older one that would move mei
	// to Taipei and make her 20, and tells her gender.
	calls = append(calls, identify("id-mei-old", "mei", 2*time.Hour, map[string]any{"address": map[string]any{"city": "Taipei"}, "age": 20, "gender": "female"}))
	if accepted, rejected := p.segmentBatch(t, calls); accepted != len(calls) {
		t.Fatalf("collector accepted %d of %d: %v", accepted, len(calls), rejected)
	}
	// Traits beyond their bounds are refused, by field.
	for field, traits := range map[string]map[string]any{"/traits/..~1x": {"../x": 1}, "/traits/bio": {"bio": strings.Repeat("x", 257)}, "/traits/interests": {"interests": []string{"tea"}}} {
		if accepted, rejected := p.segmentBatch(t, []map[string]any{identify("id-bad", "zed", time.Hour, traits)}); accepted != 0 || !strings.Contains(rejected[0], field) {
			t.Errorf("an identify with %v: accepted %d, rejected %v; want it refused naming %s", traits, accepted, rejected, field)
		}
	}
	p.waitApplied(t, len(calls), 30*time.Second)

	srv := p.startAPI(t, now)
	call := func(method, path string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil && resp.StatusCode == 200 {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
		return resp.StatusCode
	}

	var prof struct {
		Traits map[string]any `json:"traits"`
	}
	if status := call("GET", "/v1/profiles/mei", &prof); status != 200 {
		t.Fatalf("GET mei: %d", status)
	}
	want := map[string]any{"email": "mei@example.com", "age": 21.0, "vip": false, "created_at": "2025-03-01T00:00:00Z",
		"address.city": "Hong Kong", "address.geo.lat": 22.3, "risk_appetite": "low", "gender": "female"}
	if !reflect.DeepEqual(prof.Traits, want) {
		t.Errorf("mei's traits %v\nwant %v", prof.Traits, want)
	}

	for q, want := range map[string][]string{
		`trait:address.city = "Hong Kong" AND trait:age >= 18 AND trait:age <= 24`: {"lee", "mei"},
		`trait:age < 20 OR trait:address.city = "Macau"`:                           {"ana", "bo", "lee"},
		`trait:vip = true AND NOT trait:address.city = "Taipei"`:                   {"lee"},
	} {
		// The independent filter, over what was sent.
		var filtered []string
		for _, pp := range people {
			if strings.HasPrefix(q, "trait:address.city") && pp.city == "Hong Kong" && pp.age >= 18 && pp.age <= 24 ||
				strings.HasPrefix(q, "trait:age <") && (pp.age < 20 || pp.city == "Macau") ||
				strings.HasPrefix(q, "trait:vip") && pp.age < 20 && pp.city != "Taipei" {
				filtered = append(filtered, pp.id)
			}
		}
		var m struct {
			Members []string `json:"members"`
		}
		if status := call("GET", "/v1/members?q="+url.QueryEscape(q), &m); status != 200 {
			t.Fatalf("%s: %d", q, status)
		}
		if !equalSets(m.Members, filtered) || !equalSets(filtered, want) {
			t.Errorf("%s: members %v, filter %v, want %v", q, m.Members, filtered, want)
		}
	}
	if status := call("GET", "/v1/members?q="+url.QueryEscape(`trait:email = "mei@example.com"`), nil); status != 400 {
		t.Errorf("an audience on a contact trait: %d, want 400", status)
	}

	var counts api.TraitCounts
	if status := call("GET", "/v1/traits/address.city/counts?limit=2", &counts); status != 200 {
		t.Fatalf("counts: %d", status)
	}
	if counts.Customers != 5 || counts.Distinct != 3 || len(counts.Values) != 2 || counts.Values[0].Value != "Hong Kong" || counts.Values[0].Customers != 3 {
		t.Errorf("address.city counts %+v, want 5 customers, 3 values, Hong Kong 3 first of 2", counts)
	}
	for path, want := range map[string]int{"/v1/traits/email/counts": 404, "/v1/traits/..%2Fx/counts": 400, "/v1/traits/nobody/counts": 404} {
		if status := call("GET", path, nil); status != want {
			t.Errorf("GET %s: %d, want %d", path, status, want)
		}
	}

	held := false
	for k, v := range testenv.Dump(t, p.rdb, "") {
		held = held || strings.Contains(k, "{mei}") && strings.Contains(v, "female")
	}
	if !held {
		t.Fatal("no key of mei's holds her gender before the erasure")
	}
	if status := call("DELETE", "/v1/profiles/mei", nil); status != 200 {
		t.Fatalf("erase mei: %d", status)
	}
	for k, v := range testenv.Dump(t, p.rdb, "") {
		if strings.Contains(k, "mei") || strings.Contains(v, "mei@example.com") || strings.Contains(v, "female") {
			t.Errorf("after the erasure, Redis holds %s = %.80s", k, v)
		}
	}
	// The view, loaded afresh, has never held anyone with mei's gender.
	if status := call("GET", "/v1/traits/gender/counts", nil); status != 404 {
		t.Errorf("gender counts after mei's erasure: %d, want 404: nobody has had it", status)
	}
}

func equalSets(a, b []string) bool {
	x, y := map[string]bool{}, map[string]bool{}
	for _, s := range a {
		x[s] = true
	}
	for _, s := range b {
		y[s] = true
	}
	return len(a) == len(x) && len(b) == len(y) && reflect.DeepEqual(x, y)
}
