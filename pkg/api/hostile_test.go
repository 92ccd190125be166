package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// withoutRecords drops the erasure record and audit log from a Dump of every
// key: an erasure writes them whatever it erases.
func withoutRecords(all map[string]string) map[string]string {
	for k := range all {
		if privacy.IsRecordKey(k) {
			delete(all, k)
		}
	}
	delete(all, keys.Shared("privacy", "audit"))
	return all
}

// shop fills the store, the index and the trigger state with customers who
// bought, carted and were decided on, among them the given ids.
func shop(t *testing.T, e *env, ids ...string) []string {
	t.Helper()
	send := e.pipeline(t)
	all := append(e.population(t, 40, 7), ids...)
	for i, c := range all {
		at := T.Add(-time.Duration(i+1) * time.Hour)
		send(e.order(c, at.Add(-day(30+i)), "25.00", "coats"), e.order(c, at, "40.00"),
			testenv.Event(e.id(), event.ProductAdded, c, T.Add(-time.Minute), `{"product":{"sku":"hat","price":"5.00"},"quantity":1}`))
	}
	return all
}

func TestErasingAnIDThatNamesASharedSlotTouchesNothing(t *testing.T) {
	e := start(t, nil, nil)
	shop(t, e)
	before := withoutRecords(testenv.Dump(t, e.rdb, ""))
	for _, slot := range []string{"rfm", "timers", "ix", "replay", "#rfm", "#timers", "#ix", "stats:welcome",
		"budget:welcome", "namespace", "erased", "audit", "writers", "#writers", "outbox", "#outbox", "*", "?", "[a-z]*", "\\*", "sf:{#rfm}", "}:*"} {
		if status, body, _ := e.do(t, "DELETE", "/v1/profiles/"+url.PathEscape(slot), token, nil); status != 200 {
			t.Fatalf("erase %q: %d %s", slot, status, body)
		}
		testenv.SameKeys(t, before, withoutRecords(testenv.Dump(t, e.rdb, "")))
		if t.Failed() {
			t.Fatalf("erasing %q changed the keys above", slot)
		}
	}
	var counts struct{ Buyers int }
	e.get(t, "/v1/counts", &counts)
	if counts.Buyers != 40 {
		t.Errorf("%d buyers after the erasures, want 40", counts.Buyers)
	}
}

func TestErasingACustomerLeavesTheCustomerWhoseIDExtendsTheirsWhole(t *testing.T) {
	e := start(t, nil, nil)
	const c1 = "c1"
	others := []string{"c1}:p", "c1}", "c1*", "c1}:link"}
	shop(t, e, append([]string{c1}, others...)...)
	profiles := func() map[string]string {
		out := map[string]string{}
		for _, id := range others {
			status, body, _ := e.do(t, "GET", "/v1/profiles/"+url.PathEscape(id), token, nil)
			out[id] = fmt.Sprint(status, " ", string(body))
		}
		return out
	}
	theirKeys := func() map[string]string {
		out := map[string]string{}
		for k, v := range testenv.Dump(t, e.rdb, "") {
			for _, id := range others {
				if strings.Contains(k, "{"+keys.Tag(id)+"}") {
					out[k] = v
				}
			}
		}
		return out
	}
	beforeProfiles, beforeKeys := profiles(), theirKeys()
	if status, body, _ := e.do(t, "DELETE", "/v1/profiles/"+url.PathEscape(c1), token, nil); status != 200 {
		t.Fatalf("erase: %d %s", status, body)
	}
	for id, want := range beforeProfiles {
		if got := profiles()[id]; got != want || !strings.HasPrefix(got, "200 ") {
			t.Errorf("profile of %q after c1's erasure:\n%s\nwant\n%s", id, got, want)
		}
	}
	if len(beforeKeys) < 3*len(others) {
		t.Fatalf("the others have %d keys, want at least 3 each (the profile record, 2 of triggers): %v", len(beforeKeys), beforeKeys)
	}
	testenv.SameKeys(t, beforeKeys, theirKeys())
	if left := leftovers(t, e.rdb, "{"+c1+"}"); len(left) > 0 {
		t.Errorf("c1's keys remain:\n%s", strings.Join(left, "\n"))
	}
}

// hostileEvents are one customer's events under id.
func hostileEvents(e *env, id string) []cloudevents.Event {
	return []cloudevents.Event{
		e.order(id, T.Add(-day(3)), "12.00", "coats"),
		testenv.Event(e.id(), event.ProductViewed, id, T.Add(-time.Hour), `{"product":{"sku":"jacket","category":"coats"}}`),
		testenv.Event(e.id(), event.ProductAdded, id, T.Add(-time.Minute), `{"product":{"sku":"hat","price":"5.00"},"quantity":1}`),
	}
}

func TestHostileIDsReachOnlyTheirOwnKeys(t *testing.T) {
	e := start(t, nil, nil)
	customers := shop(t, e)
	before := withoutRecords(testenv.Dump(t, e.rdb, ""))
	send := e.pipeline(t)
	var ids []string
	for _, id := range testenv.HostileIDs(300, 11) {
		if !slices.Contains(customers, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		send(hostileEvents(e, id)...)
	}
	// Each hostile customer has a profile of their own.
	for _, id := range ids[:20] {
		if status, body, _ := e.do(t, "GET", "/v1/profiles/"+url.PathEscape(id), token, nil); status != 200 {
			t.Fatalf("profile of %q: %d %s", id, status, body)
		}
	}
	for _, id := range ids {
		if status, body, _ := e.do(t, "DELETE", "/v1/profiles/"+url.PathEscape(id), token, nil); status != 200 {
			t.Fatalf("erase %q: %d %s", id, status, body)
		}
	}
	after := withoutRecords(testenv.Dump(t, e.rdb, ""))
	// Aggregates that count customers keep what the hostile ones added, by
	// design, and hold no entry of theirs: the index's count of each day's
	// stages, and the campaigns' statistics; and so do the profile
	// writers' watermarks, which count batches.
	for k := range after {
		name, _ := keys.SharedOf("sf", k)
		stats, _ := keys.SharedOf("tr", k)
		if strings.HasPrefix(name, "ix.") && strings.HasSuffix(k, ":days") || strings.HasPrefix(stats, "stats:") || profile.IsBookkeeping("sf", k) {
			delete(after, k)
			delete(before, k)
		}
	}
	testenv.SameKeys(t, before, after)
}
