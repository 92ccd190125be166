package api_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/demo"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/nes"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/waterfall"
)

// startWaterfall is start with a store that evaluates the waterfall of
// segments (fallback "other").
func startWaterfall(t *testing.T, segments ...waterfall.Segment) *env {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	rules, err := tag.Compile(tag.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	wf, err := waterfall.Compile(waterfall.Config{Segments: segments})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rdb: rdb, store: profile.New(rdb, profile.Config{Rules: rules, Waterfall: wf}), ix: index.New(rdb, "")}
	e.serve(t, nil, nil)
	return e
}

// dogsThenValueThenLapsed is a waterfall and the same written in Go, over a
// profile as the store reads it.
var dogsThenValueThenLapsed = []waterfall.Segment{
	{Name: "dog_lovers", When: `"dog" in bought_categories`},
	{Name: "vip", When: `m_score >= 4`},
	{Name: "lapsed", When: `stage in ["S2", "S3"]`},
}

func dogsThenValueThenLapsedOf(p profile.Profile) string {
	switch {
	case slices.Contains(p.Tags, "bought:category:dog"):
		return "dog_lovers"
	case p.MScore >= 4:
		return "vip"
	case p.Stage == nes.HalfAsleep || p.Stage == nes.DeepAsleep:
		return "lapsed"
	}
	return waterfall.DefaultFallback
}

func TestWaterfallCountsMembersAndCSVAreEachCustomersFirstMatchingSegment(t *testing.T) {
	e := startWaterfall(t, dogsThenValueThenLapsed...)
	ids := e.population(t, 150, 5)
	ps := e.profiles(t, ids)
	want := map[string][]string{}
	for _, c := range ids {
		s := dogsThenValueThenLapsedOf(ps[c])
		want[s] = append(want[s], c)
	}
	for _, s := range []string{"dog_lovers", "vip", "lapsed", "other"} {
		if len(want[s]) == 0 {
			t.Fatalf("nobody in %s: a weak case", s)
		}
	}

	var counts api.Counts
	e.get(t, "/v1/counts", &counts)
	total := int64(0)
	for _, s := range []string{"dog_lovers", "vip", "lapsed", "other"} {
		if counts.Waterfall[s] != int64(len(want[s])) {
			t.Errorf("count of %s: %d, want %d", s, counts.Waterfall[s], len(want[s]))
		}
		total += counts.Waterfall[s]
	}
	if len(counts.Waterfall) != 4 || total != int64(len(ids)) {
		t.Errorf("waterfall counts %v: %d customers in all, want 4 segments of %d", counts.Waterfall, total, len(ids))
	}

	for s, members := range want {
		var page api.Members
		e.get(t, "/v1/waterfall/"+s+"/members?limit=1000", &page)
		if !slices.Equal(page.Members, members) || page.Total != len(members) {
			t.Errorf("members of %s: %v, want %v", s, page.Members, members)
		}
		if got := e.all(t, "waterfall:"+s, 11); !slices.Equal(got, members) {
			t.Errorf("waterfall:%s: %v, want %v", s, got, members)
		}
	}
	var vipNotS3 []string
	for _, c := range want["vip"] {
		if ps[c].Stage != nes.DeepAsleep {
			vipNotS3 = append(vipNotS3, c)
		}
	}
	if got := e.all(t, "waterfall:vip AND NOT S3", 1000); !slices.Equal(got, vipNotS3) {
		t.Errorf("waterfall:vip AND NOT S3: %v, want %v", got, vipNotS3)
	}

	status, body, _ := e.do(t, "GET", "/v1/waterfall/lapsed/members?format=csv", token, nil)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if status != 200 || err != nil {
		t.Fatalf("CSV: %d %v", status, err)
	}
	var csvIDs []string
	for _, row := range rows[1:] {
		csvIDs = append(csvIDs, row[0])
	}
	if !slices.Equal(csvIDs, want["lapsed"]) {
		t.Errorf("CSV of lapsed: %v, want %v", csvIDs, want["lapsed"])
	}

	var p api.ProfileView
	e.get(t, "/v1/profiles/"+want["vip"][0], &p)
	if p.Waterfall != "vip" {
		t.Errorf("profile of a vip shows waterfall %q", p.Waterfall)
	}

	for _, path := range []string{"/v1/waterfall/nonsense/members", "/v1/waterfall/important_value/members"} {
		if status, _, _ := e.do(t, "GET", path, token, nil); status != 404 {
			t.Errorf("%s: %d, want 404", path, status)
		}
	}
	if status, body, _ := e.do(t, "GET", "/v1/members?q="+url.QueryEscape("waterfall:nonsense"), token, nil); status != 400 || !strings.Contains(string(body), "waterfall:nonsense") {
		t.Errorf("an unknown waterfall segment: %d %s, want 400 naming it", status, body)
	}
}

func TestAnEmptyWaterfallSegmentIsCountedAndAskable(t *testing.T) {
	e := startWaterfall(t, append([]waterfall.Segment{{Name: "nobody", When: "orders > 1000"}}, dogsThenValueThenLapsed...)...)
	e.population(t, 20, 6)
	var counts api.Counts
	e.get(t, "/v1/counts", &counts)
	if n, ok := counts.Waterfall["nobody"]; !ok || n != 0 {
		t.Errorf("counts %v: want nobody at 0", counts.Waterfall)
	}
	var page api.Members
	e.get(t, "/v1/members?q=waterfall:nobody", &page)
	if page.Total != 0 {
		t.Errorf("waterfall:nobody selects %d", page.Total)
	}
}

func TestCountsHaveNoWaterfallWithoutOne(t *testing.T) {
	e := start(t, nil, nil)
	e.population(t, 10, 7)
	_, body, _ := e.do(t, "GET", "/v1/counts", token, nil)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["waterfall"]; ok {
		t.Errorf("counts without a waterfall have one: %s", raw["waterfall"])
	}
	if status, _, _ := e.do(t, "GET", "/v1/waterfall/other/members", token, nil); status != 404 {
		t.Errorf("members of a waterfall segment without a waterfall: %d, want 404", status)
	}
}

// TestWaterfallCountsOfTheCDNOWSampleAreAnIndependentTally imports the
// CDNOW sample's orders, moved in time to end at T, and compares the
// waterfall counts with a tally of the same waterfall computed from the
// sample's rows alone: lifetime spend and orders summed per customer in
// cents, the NES stage from the first and last purchase.
func TestWaterfallCountsOfTheCDNOWSampleAreAnIndependentTally(t *testing.T) {
	e := startWaterfall(t,
		waterfall.Segment{Name: "gold", When: `tier in ["gold", "platinum"]`},
		waterfall.Segment{Name: "whales", When: `lifetime >= 500.0`},
		waterfall.Segment{Name: "lapsed", When: `stage in ["S2", "S3"]`},
		waterfall.Segment{Name: "repeat", When: `orders >= 3`},
		waterfall.Segment{Name: "twice", When: `orders == 2`},
	)
	orders, err := demo.Orders()
	if err != nil {
		t.Fatal(err)
	}
	shift := T.Sub(demo.End)
	type buyer struct {
		n           int
		cents       int64
		first, last time.Time
	}
	buyers := map[string]*buyer{}
	for _, o := range orders {
		at := o.Time.Add(shift)
		b := buyers[o.Customer]
		if b == nil {
			b = &buyer{first: at}
			buyers[o.Customer] = b
		}
		b.n++
		b.cents += cents(t, o.Total)
		b.first, b.last = minTime(b.first, at), maxTime(b.last, at)
	}
	// The sample in batches, as the importer writes it.
	for i := 0; i < len(orders); i += 2000 {
		batch := orders[i:min(i+2000, len(orders))]
		ces := make([]cloudevents.Event, len(batch))
		for j, o := range batch {
			ces[j] = e.order(o.Customer, o.Time.Add(shift), o.Total)
		}
		e.apply(t, ces...)
	}
	// Every segment is counted, an empty one at 0.
	want := map[string]int64{"gold": 0, "whales": 0, "lapsed": 0, "repeat": 0, "twice": 0, "other": 0}
	for _, b := range buyers {
		st := nes.Config{}.Stage(b.n, b.first, b.last, T)
		switch {
		case b.cents >= 5000_00:
			want["gold"]++
		case b.cents >= 500_00:
			want["whales"]++
		case st == nes.HalfAsleep || st == nes.DeepAsleep:
			want["lapsed"]++
		case b.n >= 3:
			want["repeat"]++
		case b.n == 2:
			want["twice"]++
		default:
			want["other"]++
		}
	}
	var got api.Counts
	e.get(t, "/v1/counts", &got)
	if fmt.Sprint(got.Waterfall) != fmt.Sprint(want) {
		t.Errorf("waterfall counts of the CDNOW sample:\n%v\nwant the tally of its rows\n%v", got.Waterfall, want)
	}
	t.Logf("%d customers: %v", len(buyers), got.Waterfall)
}

// cents parses a CDNOW dollar value, such as "29.33" or "0", into cents.
func cents(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("dollar value %q", s)
	}
	return w*100 + f
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestAWaterfallSegmentCustomersHaveIsAskableOfAnAPIWithoutTheWaterfall(t *testing.T) {
	e := startWaterfall(t, dogsThenValueThenLapsed...)
	ids := e.population(t, 60, 8)
	ps := e.profiles(t, ids)
	var vips []string
	for _, c := range ids {
		if dogsThenValueThenLapsedOf(ps[c]) == "vip" {
			vips = append(vips, c)
		}
	}
	// The same profiles, read by an API not given the waterfall.
	e.store = profile.New(e.rdb, profile.Config{Rules: e.store.Rules()})
	e.serve(t, nil, nil)
	var page api.Members
	e.get(t, "/v1/waterfall/vip/members?limit=1000", &page)
	if len(vips) == 0 || !slices.Equal(page.Members, vips) {
		t.Errorf("members of vip: %v, want %v", page.Members, vips)
	}
	if got := e.all(t, "waterfall:vip", 1000); !slices.Equal(got, vips) {
		t.Errorf("waterfall:vip: %v, want %v", got, vips)
	}
}
