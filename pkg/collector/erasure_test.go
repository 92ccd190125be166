package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// erase erases customer at as the read API does: record the erasure, then
// delete the profile.
func (e *env) erase(t *testing.T, customer string, at time.Time) {
	t.Helper()
	rdb := e.redis.Client(t)
	if err := privacy.New(rdb).Record(context.Background(), customer, at); err != nil {
		t.Fatal(err)
	}
	if _, err := profile.New(rdb, profile.Config{}).Erase(context.Background(), customer); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityEventsDatedBeforeAnErasureLinkNothing(t *testing.T) {
	e := start(t)
	erasedAt := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	e.erase(t, "cust-42", erasedAt)
	e.erase(t, "anon:visitor-erased", erasedAt)
	before, after := erasedAt.Add(-time.Hour), erasedAt.Add(time.Hour)
	rdb := e.redis.Client(t)

	for _, tc := range []struct {
		name, path, body, anon string
		at                     time.Time
		linked                 bool
	}{
		{"an identify of the erased user sent late", "/v1/identify", `{"messageId":"i-1","userId":"cust-42","anonymousId":"visitor-1","traits":{"email":"gone@example.com"}}`, "visitor-1", before, false},
		{"an identify at the very time of the erasure", "/v1/identify", `{"messageId":"i-2","userId":"cust-42","anonymousId":"visitor-2","traits":{"email":"gone@example.com"}}`, "visitor-2", erasedAt, false},
		{"an alias of the erased user sent late", "/v1/alias", `{"messageId":"a-1","userId":"cust-42","previousId":"device-1"}`, "device-1", before, false},
		{"an identify merging an erased visitor", "/v1/identify", `{"messageId":"i-3","userId":"cust-7","anonymousId":"visitor-erased","traits":{"email":"gone@example.com"}}`, "visitor-erased", before, false},
		{"an identify after the erasure", "/v1/identify", `{"messageId":"i-4","userId":"cust-42","anonymousId":"visitor-3"}`, "visitor-3", after, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body[:len(tc.body)-1] + fmt.Sprintf(`,"timestamp":%q}`, tc.at.Format(time.RFC3339Nano))
			code, a, _ := e.post(t, request{path: tc.path, key: webKey, body: body})
			want := answer{Accepted: 1}
			if !tc.linked {
				want = answer{Erased: 1}
			}
			if code != 200 || a.Accepted != want.Accepted || a.Erased != want.Erased || len(a.Rejected) != 0 {
				t.Fatalf("got %d %+v, want 200 with %d accepted and %d erased", code, a, want.Accepted, want.Erased)
			}
			n, err := rdb.Exists(context.Background(), keys.Link(event.CustomerID("", tc.anon))).Result()
			if err != nil {
				t.Fatal(err)
			}
			if (n == 1) != tc.linked {
				t.Errorf("identity link of %s exists: %v, want %v", tc.anon, n == 1, tc.linked)
			}
		})
	}
	// Other events of the erased customer dated before the erasure are
	// dropped too, whether they name the customer or a visitor linked to
	// them before (a link the erasure did not reach).
	if err := rdb.Set(context.Background(), keys.Link(event.CustomerID("", "visitor-old")), "cust-42", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ts := fmt.Sprintf(`,"timestamp":%q}`, before.Format(time.RFC3339Nano))
	for path, body := range map[string]string{
		"/v1/track": `{"messageId":"o-1","userId":"cust-42","event":"Order Completed","properties":{"order_id":"o-1","total":10}` + ts,
		"/v1/page":  `{"messageId":"p-0","anonymousId":"visitor-old"` + ts,
	} {
		if code, a, _ := e.post(t, request{path: path, key: webKey, body: body}); code != 200 || a.Erased != 1 || a.Accepted != 0 {
			t.Errorf("%s %s: %d %+v, want 200 with 1 erased", path, body, code, a)
		}
	}
	e.byID(t, 0, event.TopicPurchase)

	// Only the identify after the erasure reached Kafka: nothing the
	// profile-updater could store traits from.
	got := e.byID(t, 1, event.TopicIdentify)
	if len(got["i-4"]) != 1 {
		t.Errorf("identify topic holds %v, want only i-4", got)
	}
	// A later page view of a visitor whose identify was dropped stays
	// anonymous.
	if code, a, _ := e.post(t, request{path: "/v1/page", key: webKey, body: `{"messageId":"p-1","anonymousId":"visitor-1"}`}); code != 200 || a.Accepted != 1 {
		t.Fatalf("page: %d %+v", code, a)
	}
	if k := string(e.byID(t, 1, event.TopicBrowse)["p-1"][0].Key); k != "anon:visitor-1" {
		t.Errorf("page of visitor-1 keyed %q, want anon:visitor-1", k)
	}
}

func TestAnErasureReachesVisitorsLinkedBeforeTheUpdaterMergedThem(t *testing.T) {
	e := start(t)
	rdb := e.redis.Client(t)
	// Two visitors identified as cust-9; the profile-updater has not applied
	// the identifies (it is not running), so nothing is merged yet. The
	// second visitor is then identified as someone else.
	for _, body := range []string{
		`{"messageId":"i-1","userId":"cust-9","anonymousId":"visitor-1"}`,
		`{"messageId":"i-2","userId":"cust-9","anonymousId":"visitor-2"}`,
		`{"messageId":"i-3","userId":"cust-10","anonymousId":"visitor-2"}`,
	} {
		if code, a, _ := e.post(t, request{path: "/v1/identify", key: webKey, body: body}); code != 200 || a.Accepted != 1 {
			t.Fatalf("identify: %d %+v", code, a)
		}
	}
	store := profile.New(rdb, profile.Config{})
	visitor := testenv.Event("v-1", event.ProductViewed, "anon:visitor-1", time.Now().Add(-time.Minute), `{"anonymous_id":"visitor-1","product":{"sku":"S"}}`)
	op, err := profile.OpOf(visitor, "USD")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Apply(context.Background(), time.Now(), []profile.Op{op}); err != nil {
		t.Fatal(err)
	}

	e.erase(t, "cust-9", time.Now())
	ctx := context.Background()
	if n := rdb.Exists(ctx, keys.Link("anon:visitor-1"), keys.Links("cust-9")).Val(); n != 0 {
		t.Errorf("%d of visitor-1's link and cust-9's links remain", n)
	}
	if ok, err := store.Exists(ctx, "anon:visitor-1"); err != nil || ok {
		t.Errorf("visitor-1's profile exists after the erasure of cust-9: %v %v", ok, err)
	}
	if got := rdb.Get(ctx, keys.Link("anon:visitor-2")).Val(); got != "cust-10" {
		t.Errorf("visitor-2, now cust-10's, is linked to %q", got)
	}
	// visitor-1 comes back: a new, anonymous customer.
	if code, a, _ := e.post(t, request{path: "/v1/page", key: webKey, body: `{"messageId":"p-1","anonymousId":"visitor-1"}`}); code != 200 || a.Accepted != 1 {
		t.Fatalf("page: %d %+v", code, a)
	}
	if k := string(e.byID(t, 1, event.TopicBrowse)["p-1"][0].Key); k != "anon:visitor-1" {
		t.Errorf("page of visitor-1 keyed %q, want anon:visitor-1", k)
	}
}
