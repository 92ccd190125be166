package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/journey"
)

// startBroadcasts serves an API whose campaigns file has the campaign
// anniversary_points, and whose journeys file the journeys welcome_back,
// which takes broadcasts, and cart, which does not.
func startBroadcasts(t *testing.T) *env {
	e := start(t, nil, nil)
	js, err := journey.Parse([]byte(`journeys:
  - {name: welcome_back, version: 1, entry: {on: [segflow.broadcast]}, steps: [{name: w, wait: 1h}]}
  - {name: cart, version: 1, entry: {on: [segflow.cart.product_added]}, steps: [{name: w, wait: 1h}]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{
		Tokens:    map[string]api.Holder{token: {Name: "analyst", Scope: api.ScopeAdmin}, readToken: {Name: "viewer"}},
		Now:       func() time.Time { return T },
		Campaigns: func() []string { return []string{"anniversary_points"} },
		Journeys:  func() *journey.Config { return js },
	}, e.rdb, e.store, e.ix, noResults{}, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	e.api, e.url = srv, hs.URL
	return e
}

func TestPostBroadcastRefusesABadBroadcastNamingEachField(t *testing.T) {
	e := startBroadcasts(t)
	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"an unknown campaign and a tag nobody has", `{"campaign":"nope","audience":"tag:nosuch","schedule":{"kind":"now"}}`, []string{"campaign", "audience"}},
		{"an audience that does not parse", `{"campaign":"anniversary_points","audience":"N AND","schedule":{"kind":"now"}}`, []string{"audience"}},
		{"a weekly schedule without a weekday, at hour 25", `{"campaign":"anniversary_points","audience":"N","schedule":{"kind":"weekly","hour":25}}`, []string{"schedule.weekday", "schedule.hour"}},
		{"no schedule", `{"campaign":"anniversary_points","audience":"N"}`, []string{"schedule.kind"}},
		{"a journey that does not exist", `{"campaign":"journey:nope","audience":"N","schedule":{"kind":"now"}}`, []string{"campaign"}},
		{"a journey whose entry takes no broadcast", `{"campaign":"journey:cart","audience":"N","schedule":{"kind":"now"}}`, []string{"campaign"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(tc.body))
			var body struct {
				Error  string            `json:"error"`
				Fields map[string]string `json:"fields"`
			}
			if err := json.Unmarshal(b, &body); err != nil || status != 400 {
				t.Fatalf("status %d, body %s; want 400", status, b)
			}
			if len(body.Fields) != len(tc.fields) {
				t.Errorf("fields %v, want %v", body.Fields, tc.fields)
			}
			for _, f := range tc.fields {
				if body.Fields[f] == "" || !strings.Contains(body.Error, f+": ") {
					t.Errorf("no message for %s: %s", f, b)
				}
			}
		})
	}
	if status, b, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(`{"campaign":"journey:welcome_back","audience":"N","schedule":{"kind":"now"}}`)); status != http.StatusCreated && status != http.StatusOK {
		t.Errorf("a broadcast into a journey that takes broadcasts: status %d, %s", status, b)
	}
	for _, body := range []string{`{"campaign":"anniversary_points","audience":"N","schedule":{"kind":"now"},"extra":1}`, `not json`} {
		if status, b, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(body)); status != 400 {
			t.Errorf("%s: status %d, %s; want 400", body, status, b)
		}
	}
}

func TestBroadcastsAreMadeListedShownAndCancelledByAdmins(t *testing.T) {
	e := startBroadcasts(t)
	body := `{"id":"b1","campaign":"anniversary_points","audience":"N  OR tier:gold2","schedule":{"kind":"yearly","date":"03-15","hour":10},"rate":50}`
	if status, _, _ := e.do(t, "POST", "/v1/broadcasts", readToken, strings.NewReader(body)); status != 403 {
		t.Errorf("a read token makes a broadcast: %d, want 403", status)
	}
	// tier:gold2 is no tier anyone had.
	if status, b, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(body)); status != 400 || !strings.Contains(string(b), "gold2") {
		t.Errorf("an unknown tier: %d %s, want 400 naming it", status, b)
	}
	body = strings.Replace(body, " OR tier:gold2", "", 1)
	status, b, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(body))
	var made broadcast.View
	if err := json.Unmarshal(b, &made); err != nil || status != 201 {
		t.Fatalf("POST: %d %s", status, b)
	}
	if made.ID != "b1" || made.Audience != "N" || made.CreatedBy != "analyst" || made.Progress.Status != broadcast.Scheduled || made.Progress.Occurrence != "2027-03-15" {
		t.Errorf("made %+v", made)
	}
	// A retried request is the same broadcast; another with its id, a conflict.
	if status, _, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(body)); status != 201 {
		t.Errorf("the same broadcast again: %d, want 201", status)
	}
	if status, _, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(strings.Replace(body, `"rate":50`, `"rate":60`, 1))); status != 409 {
		t.Errorf("another broadcast with the same id: %d, want 409", status)
	}
	if status, _, _ := e.do(t, "POST", "/v1/broadcasts", token, strings.NewReader(`{"id":"b2","campaign":"anniversary_points","audience":"N","schedule":{"kind":"now"}}`)); status != 201 {
		t.Fatalf("a second broadcast: %d", status)
	}

	var list api.Broadcasts
	e.getAs(t, "/v1/broadcasts?limit=1", readToken, &list)
	if len(list.Broadcasts) != 1 || list.NextCursor == "" {
		t.Fatalf("first page %+v", list)
	}
	first, cursor := list.Broadcasts[0].ID, list.NextCursor
	list = api.Broadcasts{}
	e.getAs(t, "/v1/broadcasts?limit=1&cursor="+cursor, readToken, &list)
	if len(list.Broadcasts) != 1 || list.Broadcasts[0].ID == first || list.NextCursor != "" {
		t.Errorf("second page %+v after %s", list, first)
	}

	var got broadcast.View
	e.getAs(t, "/v1/broadcasts/b1", readToken, &got)
	if got.ID != "b1" || got.Rate != 50 || got.Schedule.Date != "03-15" {
		t.Errorf("GET b1: %+v", got)
	}
	if status, _, _ := e.do(t, "GET", "/v1/broadcasts/nope", token, nil); status != 404 {
		t.Errorf("GET an unknown broadcast: %d, want 404", status)
	}
	if status, _, _ := e.do(t, "DELETE", "/v1/broadcasts/b1", readToken, nil); status != 403 {
		t.Errorf("a read token cancels: %d, want 403", status)
	}
	status, b, _ = e.do(t, "DELETE", "/v1/broadcasts/b1", token, nil)
	if err := json.Unmarshal(b, &got); err != nil || status != 200 || got.Progress.Status != broadcast.Cancelled {
		t.Errorf("DELETE: %d %s, want 200 cancelled", status, b)
	}
	if status, _, _ := e.do(t, "DELETE", "/v1/broadcasts/nope", token, nil); status != 404 {
		t.Errorf("cancel an unknown broadcast: %d, want 404", status)
	}
}

func (e *env) getAs(t *testing.T, path, tok string, v any) {
	t.Helper()
	status, b, _ := e.do(t, "GET", path, tok, nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
