// Package demo bundles the CDNOW sample (README.md beside this file) and
// loads it into a running pipeline in event time, so that a first run shows
// what segflow does with 18 months of real purchases: buyers, segments, a
// NES history and the example campaigns' sends, holdouts and conversions.
//
// The pipeline's services run on a Clock that the load moves through the
// sample a week at a time. At each week's end (Monday 06:00 UTC, 14:00 in
// Taipei: outside the example campaigns' quiet hours) it writes, as live
// events, the consents to every channel of the customers whose first order
// falls in the week, then the week's orders; it waits until the
// profile-updater applied them and the timers due by then, and the trigger
// service decided on the changes and its waits due by then, and only then
// moves the clock on. So each week's decisions are taken before the later
// weeks' orders, which convert them, and the segment index records the NES
// distribution of each week's end. After the last week the clock moves to
// Config.Until and stays there.
//
// Load is idempotent: once it has finished, the namespace records it
// (LoadedKey), and a second Load on the same Redis does nothing. A load that
// stopped goes on from the week after the last one it finished
// (ProgressKey); writing a week's events again is harmless, since profiles
// apply an event id once and the trigger service decides on a change once.
package demo

import (
	"bufio"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"
)

//go:embed cdnow/CDNOW_sample.txt
var sample string

// Source is the CloudEvent source of the sample's events.
const Source = "/demo/cdnow"

// Currency is the sample's: its amounts are US dollars.
const Currency = "USD"

var (
	// End is the end of the sample: the day after its last order.
	End = time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	// Final is where the demo pipeline's clock stays once the sample is
	// loaded, unless told otherwise (Config.Until; segflow run --demo
	// --now): a week after End, at 14:00 in Taipei, outside the example
	// campaigns' quiet hours.
	Final = End.Add(7*24*time.Hour + 6*time.Hour)
)

// Order is one row of the sample.
type Order struct {
	ID       string    // <customer>-<YYYYMMDD>-<n>, n the row's number among the customer's rows of the day
	Customer string    // the master customer id, zero-padded
	Time     time.Time // 00:00 UTC on the row's day
	Total    string    // dollars, two decimals
}

// Orders returns the sample's orders in file order (by customer, then date).
func Orders() ([]Order, error) {
	var out []Order
	perDay := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(sample))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("cdnow sample line %d: %d fields, want 5", line, len(f))
		}
		customer, date, total := f[0], f[2], f[4]
		day, err := time.Parse("20060102", date)
		if err != nil {
			return nil, fmt.Errorf("cdnow sample line %d: %w", line, err)
		}
		if _, err := strconv.ParseFloat(total, 64); err != nil {
			return nil, fmt.Errorf("cdnow sample line %d: dollar value %q", line, total)
		}
		key := customer + "-" + date
		perDay[key]++
		out = append(out, Order{ID: key + "-" + strconv.Itoa(perDay[key]), Customer: customer, Time: day, Total: total})
	}
	return out, sc.Err()
}
