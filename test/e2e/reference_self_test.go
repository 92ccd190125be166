package e2e

// Tests of the reference computation (reference_test.go) and of the data set
// loaders (datasets_test.go): hand-computed cases, and cross-checks against
// the data sets' own published facts (/work/shared/data/README.md).

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var refT = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

const year = 365 * day

func buy(id, customer string, at time.Time, cents int64) order {
	return order{ID: id, Customer: customer, Time: at, Cents: cents, Currency: "USD"}
}

func refund(id, customer string, at time.Time, cents int64) order {
	return order{ID: id, Customer: customer, Time: at, Cents: cents, Currency: "USD", Refund: true}
}

func ago(d time.Duration) time.Time { return refT.Add(-d) }

func checkProfile(t *testing.T, got map[string]expected, customer string, want expected) {
	t.Helper()
	g, ok := got[customer]
	if !ok {
		t.Errorf("%s: missing", customer)
		return
	}
	if g != want {
		t.Errorf("%s:\n got %+v\nwant %+v", customer, g, want)
	}
}

// TestReferenceHandComputedRFM: five buyers and one non-buyer at T = 2020-01-01,
// W = 365 days.
//
//	buyer  orders (days before T, $)                      refunds        R    F  M        n
//	A      1:200  30:150  60:100  90:50                    10 days: 100   1    4  400.00   4
//	B      5:500  (and T+1 day: 999, ignored)              T+2h: 500 (ignored)
//	                                                                      5    1  500.00   1
//	C      200:237.50  365 (= T−W, outside): 1000           -             200  1  237.50   2
//	D      250:30  255:50  500:80                          252 days: 50   250  2  30.00    3
//	E      114 days 5 hours:12  300:8                      -             114  2  20.00    2
//	X      400:70                                          -             400  0  0        1
//
// X is not a buyer (F = 0): scores 0, no segment, not in the means.
// ΣR = 1+5+200+250+114 = 570, mean 114 → R high (R ≤ 114): A, B, E (E equals the mean)
// ΣF = 4+1+1+2+2 = 10, mean 2           → F high (F ≥ 2):   A, D, E (D, E equal the mean)
// ΣM = 400+500+237.5+30+20 = 1187.5, mean 237.5 → M high (M ≥ 237.5): A, B, C (C equals it)
//
//	A  HHH important_value   B  HLH important_develop   C  LLH important_retain
//	D  LHL general_keep      E  HHL general_value
//
// Scores, 1 + floor(5·count/5) = 1 + count:
//
//	R (count strictly larger R): A 4→5  B 3→4  C 1→2  D 0→1  E 2→3
//	F (strictly smaller F):      A 4→5  B 0→1  C 0→1  D 2→3  E 2→3
//	M (strictly smaller M):      A 3→4  B 4→5  C 2→3  D 1→2  E 0→1
//
// NES (default cycle 30 days, clamp [7, 365]):
//
//	A  n=4, span 89 d, c = 89/3 = 29.67 d, g = 1 d            → E0
//	B  n=1, c = 30 d, g = 5 d                                  → N
//	C  n=2, span 165 d, c = 165 d, g = 200 d ∈ (c, 2c]         → S1
//	D  n=3, span 250 d, c = 125 d, g = 250 d = 2c              → S1 (boundary)
//	E  n=2, span 185 d 19 h, c = 185 d 19 h, g = 114 d 5 h ≤ c → E0
//	X  n=1, c = 30 d, g = 400 d > 3c                           → S3
func TestReferenceHandComputedRFM(t *testing.T) {
	orders := []order{
		buy("a1", "A", ago(1*day), 200_00),
		buy("a2", "A", ago(30*day), 150_00),
		buy("a3", "A", ago(60*day), 100_00),
		buy("a4", "A", ago(90*day), 50_00),
		refund("a1", "A", ago(10*day), 100_00),
		buy("b1", "B", ago(5*day), 500_00),
		buy("b2", "B", refT.Add(day), 999_00),
		refund("b1", "B", refT.Add(2*time.Hour), 500_00),
		buy("c1", "C", ago(200*day), 237_50),
		buy("c0", "C", ago(year), 1000_00),
		buy("d1", "D", ago(250*day), 30_00),
		buy("d2", "D", ago(255*day), 50_00),
		buy("d0", "D", ago(500*day), 80_00),
		refund("d0", "D", ago(252*day), 50_00),
		buy("e1", "E", ago(114*day+5*time.Hour), 12_00),
		buy("e2", "E", ago(300*day), 8_00),
		buy("x1", "X", ago(400*day), 70_00),
	}
	got := referenceProfiles(orders, refT, year)
	if len(got) != 6 {
		t.Errorf("%d customers, want 6", len(got))
	}
	const micro = 10_000 // micros per cent
	checkProfile(t, got, "A", expected{R: 1, F: 4, M: 400_00 * micro, RScore: 5, FScore: 5, MScore: 4, Segment: "important_value", Stage: "E0", Orders: 4, Cycle: 89 * day / 3})
	checkProfile(t, got, "B", expected{R: 5, F: 1, M: 500_00 * micro, RScore: 4, FScore: 1, MScore: 5, Segment: "important_develop", Stage: "N", Orders: 1, Cycle: 30 * day})
	checkProfile(t, got, "C", expected{R: 200, F: 1, M: 237_50 * micro, RScore: 2, FScore: 1, MScore: 3, Segment: "important_retain", Stage: "S1", Orders: 2, Cycle: 165 * day})
	checkProfile(t, got, "D", expected{R: 250, F: 2, M: 30_00 * micro, RScore: 1, FScore: 3, MScore: 2, Segment: "general_keep", Stage: "S1", Orders: 3, Cycle: 125 * day})
	checkProfile(t, got, "E", expected{R: 114, F: 2, M: 20_00 * micro, RScore: 3, FScore: 3, MScore: 1, Segment: "general_value", Stage: "E0", Orders: 2, Cycle: 185*day + 19*time.Hour})
	checkProfile(t, got, "X", expected{R: 400, Stage: "S3", Orders: 1, Cycle: 30 * day})
}

// TestReferenceNESStages: one case per stage, with the boundaries g = c, 2c, 3c
// (inclusive) and the clamps. T = 2020-01-01.
func TestReferenceNESStages(t *testing.T) {
	cases := []struct {
		name      string
		purchases []time.Duration // before T
		stage     string
		cycle     time.Duration
	}{
		// n = 1: c = 30 days.
		{"N g=0", []time.Duration{0}, "N", 30 * day},
		{"N g=c", []time.Duration{30 * day}, "N", 30 * day},
		{"S1 g=c+1ns", []time.Duration{30*day + 1}, "S1", 30 * day},
		{"S1 g=2c", []time.Duration{60 * day}, "S1", 30 * day},
		{"S2 g=2c+1ns", []time.Duration{60*day + 1}, "S2", 30 * day},
		{"S2 g=3c", []time.Duration{90 * day}, "S2", 30 * day},
		{"S3 g=3c+1ns", []time.Duration{90*day + 1}, "S3", 30 * day},
		// n = 3, intervals 10 days: c = 10 days.
		{"E0 g=0", []time.Duration{0, 10 * day, 20 * day}, "E0", 10 * day},
		{"E0 g=c", []time.Duration{10 * day, 20 * day, 30 * day}, "E0", 10 * day},
		{"S1 n=3", []time.Duration{11 * day, 21 * day, 31 * day}, "S1", 10 * day},
		{"S2 n=3", []time.Duration{30 * day, 40 * day, 50 * day}, "S2", 10 * day},
		{"S3 n=3", []time.Duration{31 * day, 41 * day, 51 * day}, "S3", 10 * day},
		// Mean interval below 7 days: clamped to 7.
		{"clamp 7 E0", []time.Duration{7 * day, 8 * day}, "E0", 7 * day},
		{"clamp 7 S1", []time.Duration{7*day + 1, 8 * day}, "S1", 7 * day},
		{"same instant", []time.Duration{21 * day, 21 * day}, "S2", 7 * day},
		// Mean interval above 365 days: clamped to 365.
		{"clamp 365 E0", []time.Duration{365 * day, 1165 * day}, "E0", 365 * day},
		{"clamp 365 S1", []time.Duration{365*day + 1, 1165 * day}, "S1", 365 * day},
		// Non-integer mean: span 100 days over 3 intervals, c = 33 d 8 h exactly;
		// 2c = 66 d 16 h, 3c = 100 d.
		{"c=100/3 d g=c", []time.Duration{33*day + 8*time.Hour, 53 * day, 83 * day, 133*day + 8*time.Hour}, "E0", 33*day + 8*time.Hour},
		{"c=100/3 d g=c+1ns", []time.Duration{33*day + 8*time.Hour + 1, 53 * day, 83 * day, 133*day + 8*time.Hour + 1}, "S1", 33*day + 8*time.Hour},
		{"c=100/3 d g=3c", []time.Duration{100 * day, 110 * day, 120 * day, 200 * day}, "S2", 33*day + 8*time.Hour},
		{"c=100/3 d g=3c+1ns", []time.Duration{100*day + 1, 110 * day, 120 * day, 200*day + 1}, "S3", 33*day + 8*time.Hour},
		{"c=100/3 d g=2c exactly", []time.Duration{66*day + 16*time.Hour, 70 * day, 80 * day, 166*day + 16*time.Hour}, "S1", 33*day + 8*time.Hour},
		{"c=100/3 d g=2c+1ns", []time.Duration{66*day + 16*time.Hour + 1, 70 * day, 80 * day, 166*day + 16*time.Hour + 1}, "S2", 33*day + 8*time.Hour},
	}
	for _, tc := range cases {
		var orders []order
		for i, d := range tc.purchases {
			orders = append(orders, buy(fmt.Sprint(i), "c", ago(d), 1_00))
		}
		e := referenceProfiles(orders, refT, year)["c"]
		if e.Stage != tc.stage || e.Cycle != tc.cycle || e.Orders != len(tc.purchases) {
			t.Errorf("%s: stage %s cycle %v n=%d, want %s %v n=%d", tc.name, e.Stage, e.Cycle, e.Orders, tc.stage, tc.cycle, len(tc.purchases))
		}
	}

	// prospect: refunds only, nothing bought yet (or only after T).
	got := referenceProfiles([]order{
		refund("r1", "p", ago(3*day), 5_00),
		buy("later", "p", refT.Add(time.Second), 5_00),
	}, refT, year)
	checkProfile(t, got, "p", expected{Stage: "prospect", Cycle: 30 * day})
	// Someone whose only order is after T is not known at T.
	if _, ok := referenceProfiles([]order{buy("o", "q", refT.Add(time.Hour), 1)}, refT, year)["q"]; ok {
		t.Error("a customer with only future orders is in the profiles at T")
	}
}

// TestReferenceWindowEdge: the window is (T−W, T]: an order exactly at T−W is
// outside, one a nanosecond later and one exactly at T are inside; later ones
// are ignored. The same for refunds.
func TestReferenceWindowEdge(t *testing.T) {
	got := referenceProfiles([]order{
		buy("edge", "a", ago(year), 1_00),
		buy("in", "a", ago(year-1), 10_00),
		buy("now", "a", refT, 100_00),
		buy("later", "a", refT.Add(1), 1000_00),
		refund("edge", "a", ago(year), 1_00),
		refund("now", "a", refT, 2_00),
		refund("later", "a", refT.Add(1), 1000_00),
	}, refT, year)
	// F = 2 (in, now), M = 10 + 100 − 2 = 108 dollars; n = 3.
	e := got["a"]
	if e.R != 0 || e.F != 2 || e.M != 108_00*10_000 || e.Orders != 3 {
		t.Errorf("window edge: R=%d F=%d M=%d n=%d, want 0 2 1080000000 3", e.R, e.F, e.M, e.Orders)
	}
	// One nanosecond earlier, the window (T−1ns−W, T−1ns] takes in "edge"
	// (at T−W) and "in", and "now" is after T: F = 2, M = 1 + 10 = 11 dollars,
	// n = 2, R = floor((W − 1ns)/day) = 364.
	e = referenceProfiles([]order{
		buy("edge", "a", ago(year), 1_00),
		buy("in", "a", ago(year-1), 10_00),
		buy("now", "a", refT, 100_00),
	}, refT.Add(-1), year)["a"]
	if e.F != 2 || e.M != 11_00*10_000 || e.Orders != 2 || e.R != 364 {
		t.Errorf("T−1ns: R=%d F=%d M=%d n=%d, want 364 2 110000000 2", e.R, e.F, e.M, e.Orders)
	}
}

// TestReferenceRefundsAndDuplicates: refunds lower M by their own time and
// never below 0; they change neither F, n, R nor the cycle; a duplicated order
// or refund counts once.
func TestReferenceRefundsAndDuplicates(t *testing.T) {
	got := referenceProfiles([]order{
		// a: bought 20 and 30 days ago, refunded the 30-day-ago order (40) 2 days ago,
		// and an order from 2 years ago (500) refunded yesterday: M = 60+40−40−500 < 0 → 0.
		buy("a1", "a", ago(20*day), 60_00),
		buy("a2", "a", ago(30*day), 40_00),
		refund("a2", "a", ago(2*day), 40_00),
		buy("a0", "a", ago(2*year), 500_00),
		refund("a0", "a", ago(1*day), 500_00),
		// b: one order, delivered twice, and a refund delivered twice.
		buy("b1", "b", ago(3*day), 70_00),
		buy("b1", "b", ago(3*day), 70_00),
		refund("b1", "b", ago(1*day), 20_00),
		refund("b1", "b", ago(1*day), 20_00),
	}, refT, year)
	a := got["a"]
	// R = 20 (the refund is not a purchase), F = 2, n = 3, cycle = 710 days / 2 = 355 days.
	if a.R != 20 || a.F != 2 || a.M != 0 || a.Orders != 3 || a.Cycle != 355*day || a.Stage != "E0" {
		t.Errorf("a: %+v", a)
	}
	b := got["b"]
	if b.R != 3 || b.F != 1 || b.M != 50_00*10_000 || b.Orders != 1 || b.Stage != "N" {
		t.Errorf("b: %+v", b)
	}
	// Two buyers, a with M = 0 and b with M = 50: a is still a buyer (F ≥ 1).
	if a.MScore != 1 || b.MScore != 1+5*1/2 || a.Segment == "" {
		t.Errorf("M scores a=%d b=%d, want 1 and 3; a's segment %q", a.MScore, b.MScore, a.Segment)
	}
}

// ---------------------------------------------------------------- data sets

func countCustomers(orders []order) int {
	seen := map[string]bool{}
	for _, o := range orders {
		seen[o.Customer] = true
	}
	return len(seen)
}

func checkUniqueIDs(t *testing.T, orders []order) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range orders {
		k := fmt.Sprint(o.Refund, o.ID)
		if seen[k] {
			t.Errorf("duplicate order id %s (refund %v)", o.ID, o.Refund)
		}
		seen[k] = true
	}
}

// TestCDNOWLoaderCounts checks the published counts: the sample has 6,919
// transactions from 2,357 customers, the master 69,659 from 23,570, and the
// sample's rows are exactly the master's rows of those customers. Unlike what
// the README says, 80 master rows (8 of them in the sample) are $0.00.
func TestCDNOWLoaderCounts(t *testing.T) {
	sample := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))
	master := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_master.txt"))
	for _, c := range []struct {
		name                  string
		orders                []order
		rows, customers, zero int
		first, last           string
	}{
		{"sample", sample, 6919, 2357, 8, "1997-01-01", "1998-06-30"},
		{"master", master, 69659, 23570, 80, "1997-01-01", "1998-06-30"},
	} {
		if len(c.orders) != c.rows || countCustomers(c.orders) != c.customers {
			t.Errorf("%s: %d transactions from %d customers, want %d from %d", c.name, len(c.orders), countCustomers(c.orders), c.rows, c.customers)
		}
		checkUniqueIDs(t, c.orders)
		var total int64
		zero := 0
		for _, o := range c.orders {
			if o.Cents == 0 {
				zero++
			}
			if o.Cents < 0 || o.Refund || o.Currency != "USD" || o.Time.Location() != time.UTC || o.Time.Hour() != 0 {
				t.Fatalf("%s: odd order %+v", c.name, o)
			}
			total += o.Cents
		}
		if f, l := c.orders[0].Time.Format(time.DateOnly), c.orders[len(c.orders)-1].Time.Format(time.DateOnly); f != c.first || l != c.last {
			t.Errorf("%s: from %s to %s, want %s to %s", c.name, f, l, c.first, c.last)
		}
		// The README says there are no zero amounts, but there are rows of $0.00.
		if zero != c.zero {
			t.Errorf("%s: %d orders of $0.00, want %d", c.name, zero, c.zero)
		}
		t.Logf("%s: %d transactions (%d of $0.00), %d customers, total $%d.%02d", c.name, len(c.orders), zero, countCustomers(c.orders), total/100, total%100)
	}
	inSample := map[string]bool{}
	for _, o := range sample {
		inSample[o.Customer] = true
	}
	masterRows := map[string]order{}
	n := 0
	for _, o := range master {
		if inSample[o.Customer] {
			masterRows[o.ID] = o
			n++
		}
	}
	if n != len(sample) {
		t.Errorf("master has %d rows of the sample's customers, the sample %d", n, len(sample))
	}
	for _, o := range sample {
		if m, ok := masterRows[o.ID]; !ok || m.Cents != o.Cents || !m.Time.Equal(o.Time) {
			t.Errorf("sample order %+v is not in the master (%+v)", o, m)
			break
		}
	}
}

// cdnowSampleIDs maps CDNOW_sample.txt's sample_id (as an integer) to the
// master customer id that the loader uses.
func cdnowSampleIDs(t *testing.T, path string) map[int]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 {
			t.Fatalf("sample line %q", sc.Text())
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := ids[n]; ok && c != fields[0] {
			t.Fatalf("sample id %d is customers %s and %s", n, c, fields[0])
		}
		ids[n] = fields[0]
	}
	return ids
}

// TestCDNOWCalibrationSummary recomputes, from the loader's orders, every
// customer's row of cdnow_customers_summary_with_transactions.csv
// (calibration period up to 1997-09-30): x = distinct purchase days − 1,
// t_x = (last − first purchase day)/7 and T = (1997-09-30 − first)/7 in weeks
// to 2 decimals, zbar = mean total of the repeat purchase days (half-up to
// cents, 0 when x = 0).
func TestCDNOWCalibrationSummary(t *testing.T) {
	samplePath := dataPath(t, "cdnow/CDNOW_sample.txt")
	orders := loadCDNOW(t, samplePath)
	ids := cdnowSampleIDs(t, samplePath)
	end := time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

	dayTotals := map[string]map[time.Time]int64{} // customer → purchase day → cents
	for _, o := range orders {
		if o.Time.After(end) {
			continue
		}
		if dayTotals[o.Customer] == nil {
			dayTotals[o.Customer] = map[time.Time]int64{}
		}
		dayTotals[o.Customer][o.Time] += o.Cents
	}

	f, err := os.Open(dataPath(t, "cdnow/cdnow_customers_summary_with_transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "ID,x,t_x,T,zbar" {
		t.Fatalf("header %v", rows[0])
	}
	weeks := func(d time.Duration) int64 { // hundredths of a week, rounded half up
		days := int64(d / day)
		return (days*200 + 7) / 14
	}
	checked, repeaters, bad := 0, 0, 0
	for _, row := range rows[1:] {
		id, err := strconv.Atoi(row[0])
		if err != nil {
			t.Fatal(err)
		}
		customer, ok := ids[id]
		if !ok {
			t.Errorf("summary ID %d not in the sample", id)
			continue
		}
		days := dayTotals[customer]
		if len(days) == 0 {
			t.Errorf("customer %s (ID %d): no purchase in the calibration period", customer, id)
			continue
		}
		var sorted []time.Time
		for d := range days {
			sorted = append(sorted, d)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Before(sorted[j]) })
		x := len(sorted) - 1
		first, last := sorted[0], sorted[x]
		var repeat int64
		for _, d := range sorted[1:] {
			repeat += days[d]
		}
		var zbar int64
		if x > 0 {
			zbar = (2*repeat + int64(x)) / (2 * int64(x)) // half up
			repeaters++
		}
		wantX, err := strconv.Atoi(row[1])
		if err != nil {
			t.Fatal(err)
		}
		var want [3]int64
		for i, s := range row[2:5] {
			if want[i], err = parseDecimal(s, 2); err != nil {
				t.Fatal(err)
			}
		}
		got := [3]int64{weeks(last.Sub(first)), weeks(end.Sub(first)), zbar}
		if x != wantX || got != want {
			bad++
			if bad <= 5 {
				t.Errorf("ID %d (customer %s): x=%d t_x,T,zbar=%v, want x=%d %v", id, customer, x, got, wantX, want)
			}
		}
		checked++
	}
	if checked != 2357 || repeaters != 946 || bad != 0 {
		t.Errorf("%d customers checked (want 2357), %d with x > 0 (want 946), %d differ", checked, repeaters, bad)
	}
	if len(dayTotals) != len(rows)-1 {
		t.Errorf("%d customers bought in the calibration period, the summary has %d", len(dayTotals), len(rows)-1)
	}
	t.Logf("x, t_x, T and zbar agree for %d customers (%d with x > 0)", checked, repeaters)
}

// TestOnlineRetailLoader checks the published counts of online_retail.csv
// (541,909 rows, 25,900 invoice numbers, 4,372 customers, 135,080 rows
// without a customer) and the loader's invariants.
func TestOnlineRetailLoader(t *testing.T) {
	path := dataPath(t, "online-retail/online_retail.csv")
	orders, st, err := readOnlineRetail(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 541909 || st.Invoices != 25900 || st.RowsNoCustomer != 135080 {
		t.Errorf("stats %+v, want 541909 rows, 25900 invoices, 135080 rows without customer", st)
	}
	if c := countCustomers(orders); c != 4372 {
		t.Errorf("%d customers, want 4372", c)
	}
	checkUniqueIDs(t, orders)
	var refunds, lines int
	var sales, returned int64
	for _, o := range orders {
		if o.Refund != strings.HasPrefix(o.ID, "C") || o.Currency != "GBP" || o.Cents < 0 || o.Time.Location() != time.UTC || len(o.Items) == 0 {
			t.Fatalf("odd order %+v", o)
		}
		lines += len(o.Items)
		if o.Refund {
			refunds++
			returned += o.Cents
		} else {
			sales += o.Cents
		}
	}
	// First invoice 536365 at 2010-12-01 08:26 GMT: 7 lines, £139.12.
	var first order
	for _, o := range orders {
		if o.ID == "536365" {
			first = o
		}
	}
	if first.Customer != "17850" || first.Cents != 139_12 || len(first.Items) != 7 || !first.Time.Equal(time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC)) {
		t.Errorf("invoice 536365: %+v", first)
	}
	if lines != 541909-135080 || refunds != st.Refunds {
		t.Errorf("%d lines, %d refunds (stats %d)", lines, refunds, st.Refunds)
	}
	t.Logf("%d orders (%d refunds) from %d customers, %d invoice totals rounded to whole pence; sales £%d.%02d, refunds £%d.%02d",
		len(orders), refunds, countCustomers(orders), st.RoundedInvoices, sales/100, sales%100, returned/100, returned%100)

	limited, st2, err := readOnlineRetail(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Rows != 1000 || len(limited) == 0 || len(limited) >= len(orders) {
		t.Errorf("limit 1000: %d rows, %d orders", st2.Rows, len(limited))
	}
}

// checkScoresMonotone: equal values give equal scores and a better value never
// a worse score (a property of the quintile rule).
func checkScoresMonotone(t *testing.T, got map[string]expected) {
	t.Helper()
	var buyers []expected
	for _, e := range got {
		if e.F >= 1 {
			buyers = append(buyers, e)
		} else if e.RScore != 0 || e.FScore != 0 || e.MScore != 0 || e.Segment != "" {
			t.Errorf("non-buyer with scores: %+v", e)
		}
	}
	dims := []struct {
		name  string
		value func(e expected) int64 // larger is better
		score func(e expected) int
	}{
		{"R", func(e expected) int64 { return -int64(e.R) }, func(e expected) int { return e.RScore }},
		{"F", func(e expected) int64 { return int64(e.F) }, func(e expected) int { return e.FScore }},
		{"M", func(e expected) int64 { return e.M }, func(e expected) int { return e.MScore }},
	}
	for _, d := range dims {
		sort.Slice(buyers, func(i, j int) bool { return d.value(buyers[i]) < d.value(buyers[j]) })
		for i := range buyers {
			s := d.score(buyers[i])
			if s < 1 || s > 5 {
				t.Fatalf("%s score %d", d.name, s)
			}
			if i > 0 {
				prev := d.score(buyers[i-1])
				if s < prev || (d.value(buyers[i]) == d.value(buyers[i-1]) && s != prev) {
					t.Fatalf("%s scores not monotone: %+v after %+v", d.name, buyers[i], buyers[i-1])
				}
			}
		}
	}
}

func logDistribution(t *testing.T, name string, got map[string]expected) {
	t.Helper()
	segments, stages := map[string]int{}, map[string]int{}
	var scores [3][6]int // R, F, M → score → buyers
	buyers := 0
	for _, e := range got {
		stages[e.Stage]++
		if e.Segment != "" {
			segments[e.Segment]++
			buyers++
			scores[0][e.RScore]++
			scores[1][e.FScore]++
			scores[2][e.MScore]++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d customers, %d buyers\n  segments:", name, len(got), buyers)
	for _, s := range []string{"important_value", "important_develop", "important_keep", "important_retain", "general_value", "general_develop", "general_keep", "general_retain"} {
		fmt.Fprintf(&b, " %s=%d", s, segments[s])
	}
	b.WriteString("\n  stages:")
	for _, s := range []string{"prospect", "N", "E0", "S1", "S2", "S3"} {
		fmt.Fprintf(&b, " %s=%d", s, stages[s])
	}
	for i, dim := range []string{"R", "F", "M"} {
		fmt.Fprintf(&b, "\n  %s scores 1..5: %v", dim, scores[i][1:])
	}
	t.Log(b.String())
}

// TestCDNOWReferenceDistribution prints, for the record, the segment and stage
// distribution of the CDNOW sample (and master) at 1998-07-01 with W = 365 days.
func TestCDNOWReferenceDistribution(t *testing.T) {
	T := time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, file := range []string{"CDNOW_sample.txt", "CDNOW_master.txt"} {
		orders := loadCDNOW(t, dataPath(t, "cdnow/"+file))
		start := time.Now()
		got := referenceProfiles(orders, T, year)
		elapsed := time.Since(start)
		checkScoresMonotone(t, got)
		if len(got) != countCustomers(orders) {
			t.Errorf("%s: %d profiles for %d customers", file, len(got), countCustomers(orders))
		}
		logDistribution(t, fmt.Sprintf("%s at %s, W=365d (computed in %s)", file, T.Format(time.DateOnly), elapsed.Round(time.Millisecond)), got)
	}
}

// TestOnlineRetailReferenceDistribution: the same on Online Retail at its end
// (2011-12-10 00:00 UTC), with refunds.
func TestOnlineRetailReferenceDistribution(t *testing.T) {
	orders := loadOnlineRetail(t, dataPath(t, "online-retail/online_retail.csv"), 0)
	T := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	got := referenceProfiles(orders, T, year)
	checkScoresMonotone(t, got)
	logDistribution(t, "online_retail.csv at 2011-12-10, W=365d", got)
}
