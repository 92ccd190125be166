package predict

import (
	"errors"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/money"
)

func at(day int, hour int) time.Time {
	return time.Date(2026, 1, day, hour, 0, 0, 0, time.UTC)
}

func TestSummarize(t *testing.T) {
	end := at(29, 23)
	for _, c := range []struct {
		name   string
		orders []Order
		unit   time.Duration
		want   Customer
	}{
		{"one order makes a customer without repeat purchases",
			[]Order{{"c", at(1, 10), 5e6}}, Week,
			Customer{X: 0, Tx: 0, T: 4}},
		{"orders on one day are one purchase day",
			[]Order{{"c", at(1, 10), 5e6}, {"c", at(1, 18), 7e6}, {"c", at(8, 9), 3e6}, {"c", at(8, 20), 1e6}}, Week,
			Customer{X: 1, Tx: 1, T: 4, Spend: 4}},
		{"repeat spend is the mean of the repeat days' totals",
			[]Order{{"c", at(1, 10), 100e6}, {"c", at(8, 9), 3e6}, {"c", at(15, 9), 5e6}, {"c", at(15, 10), 4e6}}, Week,
			Customer{X: 2, Tx: 2, T: 4, Spend: 6}},
		{"orders out of time order give the same inputs",
			[]Order{{"c", at(15, 9), 5e6}, {"c", at(8, 9), 3e6}, {"c", at(1, 10), 100e6}, {"c", at(15, 10), 4e6}}, Week,
			Customer{X: 2, Tx: 2, T: 4, Spend: 6}},
		{"orders after the end's day are left out",
			[]Order{{"c", at(1, 10), 5e6}, {"c", at(29, 23), 2e6}, {"c", at(30, 0), 9e6}}, Week,
			Customer{X: 1, Tx: 4, T: 4, Spend: 2}},
		{"the unit can be a day",
			[]Order{{"c", at(1, 10), 5e6}, {"c", at(11, 9), 3e6}}, 24 * time.Hour,
			Customer{X: 1, Tx: 10, T: 28, Spend: 3}},
		{"a zero unit means a week",
			[]Order{{"c", at(1, 10), 5e6}, {"c", at(8, 9), 3e6}}, 0,
			Customer{X: 1, Tx: 1, T: 4, Spend: 3}},
		{"free repeat orders make a zero spend",
			[]Order{{"c", at(1, 10), 5e6}, {"c", at(8, 9), 0}}, Week,
			Customer{X: 1, Tx: 1, T: 4, Spend: 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Summarize(c.orders, end, c.unit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got["c"] != c.want {
				t.Errorf("got %+v, want c: %+v", got, c.want)
			}
		})
	}
}

func TestSummarizeLeavesOutCustomersWhoFirstBuyAfterTheEnd(t *testing.T) {
	got, err := Summarize([]Order{{"early", at(1, 1), 1e6}, {"late", at(30, 1), 1e6}}, at(29, 0), Week)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["late"]; ok || len(got) != 1 {
		t.Errorf("got %+v, want only the early customer", got)
	}
}

func TestSummarizeUsesUTCDays(t *testing.T) {
	// 23:30 in New York on the 1st is the 2nd in UTC: the same day as an
	// order at 08:00 UTC on the 2nd.
	ny := time.FixedZone("EST", -5*3600)
	orders := []Order{{"c", time.Date(2026, 1, 1, 23, 30, 0, 0, ny), 1e6}, {"c", at(2, 8), 1e6}}
	got, err := Summarize(orders, at(29, 0), Week)
	if err != nil {
		t.Fatal(err)
	}
	if got["c"].X != 0 {
		t.Errorf("got %+v, want one purchase day", got["c"])
	}
}

func TestSummarizeRejectsBadOrders(t *testing.T) {
	for _, c := range []struct {
		name  string
		order Order
	}{
		{"an order without a customer", Order{At: at(1, 1), Amount: 1}},
		{"a negative amount", Order{Customer: "c", At: at(1, 1), Amount: -1}},
		{"an amount above the maximum", Order{Customer: "c", At: at(1, 1), Amount: money.MaxAmount + 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Summarize([]Order{c.order}, at(29, 0), Week); !errors.Is(err, ErrInput) {
				t.Errorf("error %v, want ErrInput", err)
			}
		})
	}
}
