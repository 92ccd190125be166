package rfm_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/rfm"
)

// Expected values in these tests are worked out by hand from the definitions
// in docs/segmentation.md; the comments show the arithmetic.

func TestSegmentsAreTheEightOfTheSpecInTableOrder(t *testing.T) {
	want := []string{
		"important_value", "important_develop", "important_keep", "important_retain",
		"general_value", "general_develop", "general_keep", "general_retain",
	}
	if !slices.Equal(rfm.Segments, want) {
		t.Fatalf("Segments = %v, want %v", rfm.Segments, want)
	}
}

func TestBuyer(t *testing.T) {
	tests := []struct {
		name string
		v    rfm.Values
		want bool
	}{
		{"a customer with no order in the window is not a buyer", rfm.Values{R: 400}, false},
		{"a customer with one order in the window is a buyer", rfm.Values{R: 3, F: 1, M: 10}, true},
		{"a customer whose orders were all refunded is still a buyer", rfm.Values{R: 3, F: 2, M: 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Buyer(); got != tt.want {
				t.Errorf("%+v.Buyer() = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	const maxI = math.MaxInt64 // 9223372036854775807
	tests := []struct {
		name           string
		better, buyers int64
		want           int
	}{
		{"no buyers is not scored", 0, 0, 0},
		{"a negative number of buyers is not scored", 0, -1, 0},
		{"a single buyer scores 1", 0, 1, 1},

		{"the lower of two buyers scores 1", 0, 2, 1},
		{"the higher of two buyers scores 3", 1, 2, 3}, // 1 + floor(5/2)

		{"the middle of three buyers scores 2", 1, 3, 2}, // 1 + floor(5/3)
		{"the top of three buyers scores 4", 2, 3, 4},    // 1 + floor(10/3)

		{"the 1st of five buyers scores 1", 0, 5, 1},
		{"the 2nd of five buyers scores 2", 1, 5, 2},
		{"the 3rd of five buyers scores 3", 2, 5, 3},
		{"the 4th of five buyers scores 4", 3, 5, 4},
		{"the 5th of five buyers scores 5", 4, 5, 5},

		{"the 1st of ten buyers scores 1", 0, 10, 1},  // 1 + floor(0/10)
		{"the 2nd of ten buyers scores 1", 1, 10, 1},  // 1 + floor(5/10)
		{"the 3rd of ten buyers scores 2", 2, 10, 2},  // 1 + floor(10/10)
		{"the 4th of ten buyers scores 2", 3, 10, 2},  // 1 + floor(15/10)
		{"the 5th of ten buyers scores 3", 4, 10, 3},  // 1 + floor(20/10)
		{"the 6th of ten buyers scores 3", 5, 10, 3},  // 1 + floor(25/10)
		{"the 7th of ten buyers scores 4", 6, 10, 4},  // 1 + floor(30/10)
		{"the 8th of ten buyers scores 4", 7, 10, 4},  // 1 + floor(35/10)
		{"the 9th of ten buyers scores 5", 8, 10, 5},  // 1 + floor(40/10)
		{"the 10th of ten buyers scores 5", 9, 10, 5}, // 1 + floor(45/10)

		{"a buyer with 19 of 100 below is still in the first quintile", 19, 100, 1}, // floor(95/100)
		{"a buyer with 20 of 100 below is in the second quintile", 20, 100, 2},      // floor(100/100)
		{"a buyer with 79 of 100 below is in the fourth quintile", 79, 100, 4},      // floor(395/100)
		{"a buyer with 80 of 100 below is in the fifth quintile", 80, 100, 5},       // floor(400/100)

		// 5 × better overflows int64 in these; maxI/5 = 1844674407370955161.4.
		{"a fifth of the largest population, rounded down, scores 1",
			1844674407370955161, maxI, 1}, // 5 × b = maxI − 2 < maxI
		{"just over a fifth of the largest population scores 2",
			1844674407370955162, maxI, 2}, // 5 × b = maxI + 3 ≥ maxI, < 2 × maxI
		{"the top of the largest population scores 5", maxI - 1, maxI, 5},

		{"a negative count of better buyers is clamped to 0", -3, 4, 1},
		{"a count of better buyers equal to the buyers is clamped to one less", 4, 4, 4}, // 1 + floor(15/4)
		{"a count of better buyers above the buyers is clamped to one less", 100, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rfm.Score(tt.better, tt.buyers); got != tt.want {
				t.Errorf("Score(%d, %d) = %d, want %d", tt.better, tt.buyers, got, tt.want)
			}
		})
	}
}

func TestSegment(t *testing.T) {
	// Four buyers with means R = 40/4 = 10 days, F = 8/4 = 2 orders,
	// M = 400/4 = 100 units.
	mean := rfm.Population{Buyers: 4, SumR: 40, SumF: 8, SumM: money.SumOf(400_000_000)}
	const (
		rHigh, rLow = 5, 15
		fHigh, fLow = 3, 1
		mHigh, mLow = 150_000_000, 50_000_000
	)
	// Three buyers with means R = 10/3, F = 4/3, M = 10/3 micros.
	thirds := rfm.Population{Buyers: 3, SumR: 10, SumF: 4, SumM: money.SumOf(10)}
	// x = 2^60: 3x + 1 needs 62 bits, so a float64 mean (3x + 1)/3 rounds to x.
	const x = int64(1) << 60
	fine := rfm.Population{Buyers: 3, SumR: 0, SumF: 3, SumM: money.SumOf(money.Micros(3*x + 1))}
	// Three buyers with M of 4e18, 4e18 and 1e18: M × 3 overflows int64.
	huge := rfm.Population{Buyers: 3, SumR: 0, SumF: 3, SumM: money.SumOf(4_000_000_000_000_000_000, 4_000_000_000_000_000_000, 1_000_000_000_000_000_000)}
	// Four buyers, one with R (or F) of 2^62: R × 4 = 2^64 wraps to 0 in int64.
	const r62 = 1 << 62
	wrap := rfm.Population{Buyers: 4, SumR: math.MaxInt64, SumF: math.MaxInt64, SumM: money.SumOf(4)}

	tests := []struct {
		name string
		v    rfm.Values
		p    rfm.Population
		want string
	}{
		{"recent, frequent and big spending is important value", rfm.Values{R: rHigh, F: fHigh, M: mHigh}, mean, rfm.ImportantValue},
		{"recent, infrequent and big spending is important develop", rfm.Values{R: rHigh, F: fLow, M: mHigh}, mean, rfm.ImportantDevelop},
		{"lapsed, frequent and big spending is important keep", rfm.Values{R: rLow, F: fHigh, M: mHigh}, mean, rfm.ImportantKeep},
		{"lapsed, infrequent and big spending is important retain", rfm.Values{R: rLow, F: fLow, M: mHigh}, mean, rfm.ImportantRetain},
		{"recent, frequent and small spending is general value", rfm.Values{R: rHigh, F: fHigh, M: mLow}, mean, rfm.GeneralValue},
		{"recent, infrequent and small spending is general develop", rfm.Values{R: rHigh, F: fLow, M: mLow}, mean, rfm.GeneralDevelop},
		{"lapsed, frequent and small spending is general keep", rfm.Values{R: rLow, F: fHigh, M: mLow}, mean, rfm.GeneralKeep},
		{"lapsed, infrequent and small spending is general retain", rfm.Values{R: rLow, F: fLow, M: mLow}, mean, rfm.GeneralRetain},

		{"values equal to all three means are high", rfm.Values{R: 10, F: 2, M: 100_000_000}, mean, rfm.ImportantValue},
		{"an R one day above the mean is low", rfm.Values{R: 11, F: 2, M: 100_000_000}, mean, rfm.ImportantKeep},
		{"an F one order below the mean is low", rfm.Values{R: 10, F: 1, M: 100_000_000}, mean, rfm.ImportantDevelop},
		{"an M one micro below the mean is low", rfm.Values{R: 10, F: 2, M: 99_999_999}, mean, rfm.GeneralValue},

		{"values just on the high side of fractional means are high", rfm.Values{R: 3, F: 2, M: 4}, thirds, rfm.ImportantValue},
		{"values just on the low side of fractional means are low", rfm.Values{R: 4, F: 1, M: 3}, thirds, rfm.GeneralRetain},

		{"an M one third of a micro below a mean of 2^60 micros is low, which floats miss",
			rfm.Values{R: 0, F: 1, M: x}, fine, rfm.GeneralValue}, // 3x < 3x + 1
		{"an M two thirds of a micro above a mean of 2^60 micros is high",
			rfm.Values{R: 0, F: 1, M: x + 1}, fine, rfm.ImportantValue}, // 3x + 3 ≥ 3x + 1

		{"an M whose product with the buyers overflows int64 is high when above the mean",
			rfm.Values{R: 0, F: 1, M: 4_000_000_000_000_000_000}, huge, rfm.ImportantValue}, // 1.2e19 ≥ 9e18
		{"an M below a mean of 3e18 micros is low",
			rfm.Values{R: 0, F: 1, M: 1_000_000_000_000_000_000}, huge, rfm.GeneralValue}, // 3e18 < 9e18
		{"an M of the largest int64 is high",
			rfm.Values{R: 0, F: 1, M: math.MaxInt64}, huge, rfm.ImportantValue},
		{"an R whose product with the buyers wraps to 0 is still low",
			rfm.Values{R: r62, F: r62, M: 1}, wrap, rfm.ImportantKeep}, // R: 2^64 > 2^63−1; F: 2^64 ≥ 2^63−1; M: 4 ≥ 4

		{"a non-buyer has no segment", rfm.Values{R: 400}, mean, ""},
		{"a population without buyers gives no segment", rfm.Values{R: 1, F: 1, M: 1}, rfm.Population{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rfm.Segment(tt.v, tt.p); got != tt.want {
				t.Errorf("Segment(%+v, %+v) = %q, want %q", tt.v, tt.p, got, tt.want)
			}
		})
	}
}

func TestCompute(t *testing.T) {
	const u = 1_000_000 // one currency unit in micros
	tests := []struct {
		name  string
		vs    []rfm.Values
		want  []rfm.Scores
		wantP rfm.Population
	}{
		{
			name: "an empty population scores no one",
		},
		{
			// Means R = 40/8 = 5, F = 16/8 = 2, M = 160/8 = 20: R 1, F 3 and M 30
			// are high. Four buyers have R 9 (0 larger: score 1), four R 1 (4
			// larger: 1 + floor(20/8) = 3); F and M likewise.
			name: "eight buyers on either side of each mean fall in all eight segments",
			vs: []rfm.Values{
				{R: 1, F: 3, M: 30 * u},
				{R: 1, F: 1, M: 30 * u},
				{R: 9, F: 3, M: 30 * u},
				{R: 9, F: 1, M: 30 * u},
				{R: 1, F: 3, M: 10 * u},
				{R: 1, F: 1, M: 10 * u},
				{R: 9, F: 3, M: 10 * u},
				{R: 9, F: 1, M: 10 * u},
				{R: 400}, // a non-buyer, who would move the mean R to 440/9
			},
			want: []rfm.Scores{
				{R: 3, F: 3, M: 3, Segment: "important_value"},
				{R: 3, F: 1, M: 3, Segment: "important_develop"},
				{R: 1, F: 3, M: 3, Segment: "important_keep"},
				{R: 1, F: 1, M: 3, Segment: "important_retain"},
				{R: 3, F: 3, M: 1, Segment: "general_value"},
				{R: 3, F: 1, M: 1, Segment: "general_develop"},
				{R: 1, F: 3, M: 1, Segment: "general_keep"},
				{R: 1, F: 1, M: 1, Segment: "general_retain"},
				{},
			},
			wantP: rfm.Population{Buyers: 8, SumR: 40, SumF: 16, SumM: money.SumOf(160 * u)},
		},
		{
			name:  "a single buyer scores 1 and is at every mean",
			vs:    []rfm.Values{{R: 100, F: 1, M: 1}},
			want:  []rfm.Scores{{R: 1, F: 1, M: 1, Segment: "important_value"}},
			wantP: rfm.Population{Buyers: 1, SumR: 100, SumF: 1, SumM: money.SumOf(1)},
		},
		{
			name: "buyers who are all equal all score 1 and are important value",
			vs:   []rfm.Values{{R: 5, F: 2, M: 7}, {R: 5, F: 2, M: 7}, {R: 5, F: 2, M: 7}},
			want: []rfm.Scores{
				{R: 1, F: 1, M: 1, Segment: "important_value"},
				{R: 1, F: 1, M: 1, Segment: "important_value"},
				{R: 1, F: 1, M: 1, Segment: "important_value"},
			},
			wantP: rfm.Population{Buyers: 3, SumR: 15, SumF: 6, SumM: money.SumOf(21)},
		},
		{
			// The better buyer has 1 of 2 below: 1 + floor(5/2) = 3. Means R 2,
			// F 1.5, M 15.
			name: "of two buyers the better scores 3 and the other 1",
			vs:   []rfm.Values{{R: 1, F: 2, M: 20}, {R: 3, F: 1, M: 10}},
			want: []rfm.Scores{
				{R: 3, F: 3, M: 3, Segment: "important_value"},
				{R: 1, F: 1, M: 1, Segment: "general_retain"},
			},
			wantP: rfm.Population{Buyers: 2, SumR: 4, SumF: 3, SumM: money.SumOf(30)},
		},
		{
			// R 0..40: 4, 3, 2, 1, 0 larger; F 1..5: 0..4 smaller; M 5..1: 4..0
			// smaller. Score = 1 + count. Means R 20, F 3, M 3 units.
			name: "five buyers with distinct values score 1 to 5",
			vs: []rfm.Values{
				{R: 0, F: 1, M: 5 * u},
				{R: 10, F: 2, M: 4 * u},
				{R: 20, F: 3, M: 3 * u},
				{R: 30, F: 4, M: 2 * u},
				{R: 40, F: 5, M: 1 * u},
			},
			want: []rfm.Scores{
				{R: 5, F: 1, M: 5, Segment: "important_develop"},
				{R: 4, F: 2, M: 4, Segment: "important_develop"},
				{R: 3, F: 3, M: 3, Segment: "important_value"},
				{R: 2, F: 4, M: 2, Segment: "general_keep"},
				{R: 1, F: 5, M: 1, Segment: "general_keep"},
			},
			wantP: rfm.Population{Buyers: 5, SumR: 100, SumF: 15, SumM: money.SumOf(15 * u)},
		},
		{
			// Buyer i (0..9) has R i, F i+1, M i+1 units. F and M: i smaller, so
			// 1 + floor(5i/10); R: 9−i larger, so 1 + floor(5(9−i)/10). Means R
			// 4.5, F 5.5, M 5.5 units: R high for i ≤ 4, F and M for i ≥ 5.
			name: "ten buyers with distinct values score 1 to 5 in pairs",
			vs: []rfm.Values{
				{R: 0, F: 1, M: 1 * u}, {R: 1, F: 2, M: 2 * u}, {R: 2, F: 3, M: 3 * u}, {R: 3, F: 4, M: 4 * u}, {R: 4, F: 5, M: 5 * u},
				{R: 5, F: 6, M: 6 * u}, {R: 6, F: 7, M: 7 * u}, {R: 7, F: 8, M: 8 * u}, {R: 8, F: 9, M: 9 * u}, {R: 9, F: 10, M: 10 * u},
			},
			want: []rfm.Scores{
				{R: 5, F: 1, M: 1, Segment: "general_develop"},
				{R: 5, F: 1, M: 1, Segment: "general_develop"},
				{R: 4, F: 2, M: 2, Segment: "general_develop"},
				{R: 4, F: 2, M: 2, Segment: "general_develop"},
				{R: 3, F: 3, M: 3, Segment: "general_develop"},
				{R: 3, F: 3, M: 3, Segment: "important_keep"},
				{R: 2, F: 4, M: 4, Segment: "important_keep"},
				{R: 2, F: 4, M: 4, Segment: "important_keep"},
				{R: 1, F: 5, M: 5, Segment: "important_keep"},
				{R: 1, F: 5, M: 5, Segment: "important_keep"},
			},
			wantP: rfm.Population{Buyers: 10, SumR: 45, SumF: 55, SumM: money.SumOf(55 * u)},
		},
		{
			// R 5, 3, 3, 1: 0, 1, 1, 3 larger → 1, 2, 2, 4 (1 + floor(5/4) = 2,
			// 1 + floor(15/4) = 4). M 10, 20, 20, 30 likewise. F all 1 → 1.
			// Means R 3, F 1, M 20: the tied middle buyers are high.
			name: "tied buyers share a score and count only strictly better buyers",
			vs:   []rfm.Values{{R: 5, F: 1, M: 10}, {R: 3, F: 1, M: 20}, {R: 3, F: 1, M: 20}, {R: 1, F: 1, M: 30}},
			want: []rfm.Scores{
				{R: 1, F: 1, M: 1, Segment: "general_keep"},
				{R: 2, F: 1, M: 2, Segment: "important_value"},
				{R: 2, F: 1, M: 2, Segment: "important_value"},
				{R: 4, F: 1, M: 4, Segment: "important_value"},
			},
			wantP: rfm.Population{Buyers: 4, SumR: 12, SumF: 4, SumM: money.SumOf(80)},
		},
		{
			// Only the two buyers count: means R 3, F 2, M 10. A: R 2 has 1
			// larger (4) → 3. B: F 3 and M 15 have 1 smaller → 3.
			name: "non-buyers get no scores and do not count",
			vs:   []rfm.Values{{R: 400}, {R: 2, F: 1, M: 5}, {}, {R: 4, F: 3, M: 15}},
			want: []rfm.Scores{
				{},
				{R: 3, F: 1, M: 1, Segment: "general_develop"},
				{},
				{R: 1, F: 3, M: 3, Segment: "important_keep"},
			},
			wantP: rfm.Population{Buyers: 2, SumR: 6, SumF: 4, SumM: money.SumOf(20)},
		},
		{
			name:  "a population of non-buyers scores no one",
			vs:    []rfm.Values{{R: 400}, {}},
			want:  []rfm.Scores{{}, {}},
			wantP: rfm.Population{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, p := rfm.Compute(tt.vs)
			if len(got) != len(tt.vs) {
				t.Fatalf("Compute returned %d scores for %d values", len(got), len(tt.vs))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("scores of %+v = %+v, want %+v", tt.vs[i], got[i], tt.want[i])
				}
			}
			if p != tt.wantP {
				t.Errorf("population = %+v, want %+v", p, tt.wantP)
			}
		})
	}
}

func TestComputeSumsMExactlyBeyondInt64(t *testing.T) {
	// Two buyers at the largest int64 and one at 1 micro: the sum needs 65
	// bits; the mean, (2·max + 1)/3, is below max and above 1.
	got, p := rfm.Compute([]rfm.Values{{F: 1, M: math.MaxInt64}, {F: 1, M: math.MaxInt64}, {F: 1, M: 1}})
	want := new(big.Int).Mul(big.NewInt(math.MaxInt64), big.NewInt(2))
	want.Add(want, big.NewInt(1))
	if p.SumM.Big().Cmp(want) != 0 {
		t.Errorf("sum of M = %s, want %s", p.SumM.Big(), want)
	}
	// R = 0 and F = 1 are everyone's, so at the mean: high.
	if got[0].Segment != rfm.ImportantValue || got[1].Segment != rfm.ImportantValue || got[2].Segment != rfm.GeneralValue {
		t.Errorf("segments %q %q %q, want important_value twice and general_value", got[0].Segment, got[1].Segment, got[2].Segment)
	}
}

func TestOf(t *testing.T) {
	const (
		day    = 24 * time.Hour
		u      = 1_000_000
		W      = rfm.DefaultWindow
		maxSum = 9_000_000_000 * u // money.MaxSum: 9e9 major units
	)
	T := time.Date(2024, 6, 30, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) time.Time { return T.Add(-ago) }
	o := func(ago time.Duration, amount int64) rfm.Order { return rfm.Order{Time: at(ago), Amount: amount} }
	type list = []rfm.Order
	tests := []struct {
		name    string
		orders  list
		refunds list
		last    time.Time
		window  time.Duration
		want    rfm.Values
	}{
		{"no purchase at all gives zero values", nil, nil, time.Time{}, W, rfm.Values{}},

		{"an order exactly at T minus the window is outside it",
			list{o(W, 5*u)}, nil, at(W), W, rfm.Values{R: 365}},
		{"an order a nanosecond after T minus the window is inside it",
			list{o(W-1, 5*u)}, nil, at(W - 1), W, rfm.Values{R: 364, F: 1, M: 5 * u}},
		{"an order exactly at T is inside the window",
			list{o(0, 5*u)}, nil, T, W, rfm.Values{R: 0, F: 1, M: 5 * u}},
		{"an order after T is outside the window",
			list{o(2*day, 3*u), o(-time.Hour, 4*u)}, nil, at(2 * day), W, rfm.Values{R: 2, F: 1, M: 3 * u}},
		{"several orders in the window add up",
			list{o(300*day, 1*u), o(30*day, 2*u), o(3*day, 4*u)}, nil, at(3 * day), W, rfm.Values{R: 3, F: 3, M: 7 * u}},

		{"a purchase 23h59m ago is 0 days ago",
			list{o(23*time.Hour+59*time.Minute, u)}, nil, at(23*time.Hour + 59*time.Minute), W, rfm.Values{R: 0, F: 1, M: u}},
		{"a purchase exactly 24h ago is 1 day ago",
			list{o(day, u)}, nil, at(day), W, rfm.Values{R: 1, F: 1, M: u}},
		{"a purchase a nanosecond short of 48h ago is 1 day ago",
			list{o(2*day-1, u)}, nil, at(2*day - 1), W, rfm.Values{R: 1, F: 1, M: u}},
		{"R counts from the last purchase even before the window",
			list{o(400*day, u)}, nil, at(400 * day), W, rfm.Values{R: 400}},
		{"a last purchase after T counts as a purchase at T",
			list{o(-time.Hour, u)}, nil, at(-time.Hour), W, rfm.Values{R: 0}},

		{"a refund in the window lowers M but not F",
			list{o(10*day, 50*u), o(5*day, 30*u)}, list{o(3*day, 20*u)}, at(5 * day), W, rfm.Values{R: 5, F: 2, M: 60 * u}},
		{"refunds beyond the orders clamp M at 0",
			list{o(day, 10*u)}, list{o(day-time.Hour, 25*u)}, at(day), W, rfm.Values{R: 1, F: 1, M: 0}},
		{"a refund exactly at T minus the window does not lower M",
			list{o(10*day, 10*u)}, list{o(W, 5*u)}, at(10 * day), W, rfm.Values{R: 10, F: 1, M: 10 * u}},
		{"a refund after T does not lower M",
			list{o(10*day, 10*u)}, list{o(-day, 5*u)}, at(10 * day), W, rfm.Values{R: 10, F: 1, M: 10 * u}},
		{"a refund in the window of an order before it lowers M",
			list{o(400*day, 100*u), o(day, 10*u)}, list{o(2*day, 4*u)}, at(day), W, rfm.Values{R: 1, F: 1, M: 6 * u}},

		{"a 30-day window counts only the last 30 days",
			list{o(30*day, 1*u), o(29*day, 2*u)}, nil, at(29 * day), 30 * day, rfm.Values{R: 29, F: 1, M: 2 * u}},
		{"a zero window means the default window",
			list{o(364*day, 1*u), o(365*day, 2*u)}, nil, at(364 * day), 0, rfm.Values{R: 364, F: 1, M: 1 * u}},

		{"order totals beyond the largest sum cap M at it",
			list{o(day, math.MaxInt64), o(2*day, math.MaxInt64)}, nil, at(day), W, rfm.Values{R: 1, F: 2, M: maxSum}},
		{"M is exact when a running total exceeds int64", // 2·max − max − (max − 5e6)
			list{o(day, math.MaxInt64), o(2*day, math.MaxInt64)}, list{o(day, math.MaxInt64), o(day, math.MaxInt64-5*u)}, at(day), W,
			rfm.Values{R: 1, F: 2, M: 5 * u}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rfm.Of(tt.orders, tt.refunds, tt.last, T, tt.window); got != tt.want {
				t.Errorf("Of = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestScoreAndSegmentAgreeWithCompute checks, on random populations, that what
// the incremental scoring computes from a Population and a count of better
// buyers equals Compute, and that both match a brute-force reading of the
// definitions (docs/segmentation.md) with exact rational means.
func TestScoreAndSegmentAgreeWithCompute(t *testing.T) {
	segment := map[[3]bool]string{ // R, F, M high: the table of docs/segmentation.md
		{true, true, true}: "important_value", {true, false, true}: "important_develop",
		{false, true, true}: "important_keep", {false, false, true}: "important_retain",
		{true, true, false}: "general_value", {true, false, false}: "general_develop",
		{false, true, false}: "general_keep", {false, false, false}: "general_retain",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		n := rng.IntN(40)
		// Small ranges make ties common; some runs use huge M.
		maxR, maxF, maxM := 1+rng.IntN(20), 1+rng.IntN(6), 1+rng.Int64N(50)
		if iter%5 == 0 {
			maxM = math.MaxInt64 / 64
		}
		vs := make([]rfm.Values, n)
		for i := range vs {
			vs[i] = rfm.Values{R: rng.IntN(maxR), F: rng.IntN(maxF), M: rng.Int64N(maxM)}
		}
		got, p := rfm.Compute(vs)

		var want rfm.Population
		for _, v := range vs {
			if v.F >= 1 {
				want.Buyers++
				want.SumR += int64(v.R)
				want.SumF += int64(v.F)
				want.SumM = want.SumM.Add(money.Micros(v.M))
			}
		}
		if p != want {
			t.Fatalf("%v: population %+v, want %+v", vs, p, want)
		}
		highM := func(x int64, sum money.Sum) bool { // M against the mean
			return new(big.Rat).SetInt64(x).Cmp(new(big.Rat).SetFrac(sum.Big(), big.NewInt(want.Buyers))) >= 0
		}
		high := func(x, sum int64, ge bool) bool { // x against the mean sum/buyers
			c := new(big.Rat).SetInt64(x).Cmp(big.NewRat(sum, want.Buyers))
			if ge {
				return c >= 0
			}
			return c <= 0
		}
		for i, v := range vs {
			if v.F < 1 {
				if got[i] != (rfm.Scores{}) {
					t.Fatalf("%v: non-buyer %+v scored %+v", vs, v, got[i])
				}
				continue
			}
			var lr, sf, sm int64 // buyers with a larger R, smaller F, smaller M
			for _, w := range vs {
				if w.F >= 1 {
					lr += b2i(w.R > v.R)
					sf += b2i(w.F < v.F)
					sm += b2i(w.M < v.M)
				}
			}
			seg := segment[[3]bool{high(int64(v.R), want.SumR, false), high(int64(v.F), want.SumF, true), highM(v.M, want.SumM)}]
			inc := rfm.Scores{R: rfm.Score(lr, p.Buyers), F: rfm.Score(sf, p.Buyers), M: rfm.Score(sm, p.Buyers), Segment: rfm.Segment(v, p)}
			quint := func(k int64) int { return 1 + int(5*k/want.Buyers) }
			ref := rfm.Scores{R: quint(lr), F: quint(sf), M: quint(sm), Segment: seg}
			if got[i] != inc || got[i] != ref {
				t.Fatalf("%v: buyer %+v: Compute %+v, Score/Segment %+v, SPEC %+v", vs, v, got[i], inc, ref)
			}
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
