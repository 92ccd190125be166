package e2e

// Loaders for the real data sets in /work/shared/data (see its README.md),
// turning them into historical orders. Standard library only: this file, like
// reference_test.go, must not depend on any segflow package.

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/London for Online Retail, whatever the host has installed
)

// order is one historical purchase (or refund when Refund is true).
type order struct {
	ID       string    // stable and unique, derived from the data
	Customer string    // customer id as written in the data (CDNOW: zero-padded master id)
	Time     time.Time // UTC
	Cents    int64     // amount in minor units (cents / pence), positive also for refunds
	Currency string    // "USD" for CDNOW, "GBP" for Online Retail
	Refund   bool
	Items    []item // nil for CDNOW (it has no products)
}

// item is one line of an order.
type item struct {
	SKU        string // Online Retail StockCode
	Name       string // Online Retail Description
	Category   string // none in the data sets loaded here
	Quantity   int64  // positive, also on refunds (the quantity returned)
	UnitCents  int64  // unit price in minor units, rounded half away from zero
	UnitMicros int64  // unit price in millionths of the currency unit, exact
}

// dataRoots are where data sets are looked for, in order: $SEGFLOW_DATA, the
// shared data folder next to the repository, and this package's testdata
// (which holds the CDNOW sample, so that the end-to-end tests always run).
func dataRoots() []string {
	var roots []string
	if d := os.Getenv("SEGFLOW_DATA"); d != "" {
		roots = append(roots, d)
	}
	// The CDNOW sample ships in pkg/demo, which embeds it for segflow run --demo.
	return append(roots, filepath.Join("..", "..", "..", "shared", "data"), "testdata", filepath.Join("..", "..", "pkg", "demo"))
}

// dataPath resolves rel under the first data root that has it, and skips the
// test if none has.
func dataPath(t testing.TB, rel string) string {
	t.Helper()
	for _, root := range dataRoots() {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("data set %s not found under %v", rel, dataRoots())
	return ""
}

// parseDecimal parses decimal text such as "-12.5" or "0.001" into an integer
// number of 10^-places units, exactly (no float64). More fractional digits
// than places is an error.
func parseDecimal(s string, places int) (int64, error) {
	orig := s
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return 0, fmt.Errorf("decimal %q: no digits", orig)
	}
	if len(frac) > places {
		return 0, fmt.Errorf("decimal %q: more than %d decimals", orig, places)
	}
	digits := intPart + frac + strings.Repeat("0", places-len(frac))
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("decimal %q: not a number", orig)
		}
		if v > (1<<63-1-9)/10 {
			return 0, fmt.Errorf("decimal %q: out of range", orig)
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}

// roundDiv divides a by b (b > 0) rounding half away from zero.
func roundDiv(a, b int64) int64 {
	if a < 0 {
		return -((-a + b/2) / b)
	}
	return (a + b/2) / b
}

// sortByTime orders by time, keeping the file order among equal times.
func sortByTime(orders []order) {
	sort.SliceStable(orders, func(i, j int) bool { return orders[i].Time.Before(orders[j].Time) })
}

// ---------------------------------------------------------------- CDNOW

// loadCDNOW reads CDNOW_master.txt (customer_id date number_of_cds
// dollar_value, with a header line) or CDNOW_sample.txt (master_customer_id
// sample_id date number_of_cds dollar_value, no header). Each row is one
// USD order at 00:00 UTC on its day. The customer is the master id in both
// formats, so that sample and master orders are the same orders; the order id
// is "<customer>-<YYYYMMDD>-<n>" with n the row's number (from 1) among that
// customer's rows on that day. Orders are returned sorted by time (file order
// among equal times).
func loadCDNOW(t testing.TB, path string) []order {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var orders []order
	perDay := map[string]int{} // customer-date -> rows so far
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		var customer, date, cds, dollars string
		switch len(fields) {
		case 4: // master
			if line == 1 && fields[0] == "customer_id" {
				continue
			}
			customer, date, cds, dollars = fields[0], fields[1], fields[2], fields[3]
		case 5: // sample
			customer, date, cds, dollars = fields[0], fields[2], fields[3], fields[4]
		default:
			t.Fatalf("%s:%d: %d fields, want 4 (master) or 5 (sample)", path, line, len(fields))
		}
		if _, err := strconv.ParseUint(customer, 10, 64); err != nil {
			t.Fatalf("%s:%d: customer id %q", path, line, customer)
		}
		day, err := time.Parse("20060102", date)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		if _, err := strconv.ParseUint(cds, 10, 32); err != nil {
			t.Fatalf("%s:%d: number_of_cds %q", path, line, cds)
		}
		cents, err := parseDecimal(dollars, 2)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		key := customer + "-" + date
		perDay[key]++
		orders = append(orders, order{
			ID:       fmt.Sprintf("%s-%d", key, perDay[key]),
			Customer: customer,
			Time:     day.UTC(),
			Cents:    cents,
			Currency: "USD",
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	sortByTime(orders)
	return orders
}

// ---------------------------------------------------------------- Online Retail

// retailStats are counts made while reading online_retail.csv.
type retailStats struct {
	Rows            int // data rows read (header excluded)
	RowsNoCustomer  int // skipped: empty CustomerID
	Invoices        int // distinct InvoiceNo over all rows read
	Refunds         int // orders with Refund (invoices starting with "C")
	RoundedInvoices int // invoice totals that were not a whole number of pence
}

// loadOnlineRetail reads the UCI Online Retail CSV (online-retail/online_retail.csv):
// one GBP order per invoice with a customer, its amount the sum of
// Quantity × UnitPrice over the invoice's lines (rounded half away from zero to
// whole pence: 4 invoices have unit prices with 3 decimals). Invoices starting
// with "C" are refunds (Refund true, Cents positive). Rows without CustomerID
// are skipped. The order time is the invoice's first line's InvoiceDate, read
// as UK local time (Europe/London) and converted to UTC. limit is the most
// data rows read (0 = all); an invoice cut by the limit keeps the lines read.
// Orders are returned sorted by time (file order among equal times).
func loadOnlineRetail(t testing.TB, path string, limit int) []order {
	t.Helper()
	orders, _, err := readOnlineRetail(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	return orders
}

func readOnlineRetail(path string, limit int) ([]order, retailStats, error) {
	var st retailStats
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, st, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, st, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, st, fmt.Errorf("%s: header: %w", path, err)
	}
	want := []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"}
	if strings.Join(header, ",") != strings.Join(want, ",") {
		return nil, st, fmt.Errorf("%s: header %q, want %q", path, header, want)
	}
	type invoice struct {
		o      order
		micros int64 // signed sum of quantity × unit price
	}
	byNo := map[string]*invoice{}
	var seq []*invoice // invoices with a customer, in order of first appearance
	seen := map[string]bool{}
	for limit <= 0 || st.Rows < limit {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, st, fmt.Errorf("%s: %w", path, err)
		}
		st.Rows++
		line, _ := r.FieldPos(0)
		no, sku, desc, qty, date, price, cust := rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], rec[6]
		seen[no] = true
		if cust == "" {
			st.RowsNoCustomer++
			continue
		}
		cust = strings.TrimSuffix(cust, ".0")
		if _, err := strconv.ParseUint(cust, 10, 64); err != nil {
			return nil, st, fmt.Errorf("%s:%d: CustomerID %q", path, line, rec[6])
		}
		q, err := strconv.ParseInt(qty, 10, 64)
		if err != nil {
			return nil, st, fmt.Errorf("%s:%d: Quantity: %w", path, line, err)
		}
		unit, err := parseDecimal(price, 6)
		if err != nil {
			return nil, st, fmt.Errorf("%s:%d: UnitPrice: %w", path, line, err)
		}
		inv := byNo[no]
		if inv == nil {
			when, err := time.ParseInLocation("2006-01-02 15:04:05", date, london)
			if err != nil {
				return nil, st, fmt.Errorf("%s:%d: InvoiceDate: %w", path, line, err)
			}
			inv = &invoice{o: order{ID: no, Customer: cust, Time: when.UTC(), Currency: "GBP", Refund: strings.HasPrefix(no, "C")}}
			byNo[no] = inv
			seq = append(seq, inv)
		} else if inv.o.Customer != cust {
			return nil, st, fmt.Errorf("%s:%d: invoice %s has customers %s and %s", path, line, no, inv.o.Customer, cust)
		}
		inv.micros += q * unit
		absQ := q
		if absQ < 0 {
			absQ = -absQ
		}
		inv.o.Items = append(inv.o.Items, item{SKU: sku, Name: desc, Quantity: absQ, UnitCents: roundDiv(unit, 10_000), UnitMicros: unit})
	}
	st.Invoices = len(seen)
	orders := make([]order, 0, len(seq))
	for _, inv := range seq {
		m := inv.micros
		if inv.o.Refund {
			m = -m
		}
		if m%10_000 != 0 {
			st.RoundedInvoices++
		}
		inv.o.Cents = roundDiv(m, 10_000)
		if inv.o.Cents < 0 {
			return nil, st, fmt.Errorf("%s: invoice %s: negative amount %d micros", path, inv.o.ID, m)
		}
		if inv.o.Refund {
			st.Refunds++
		}
		orders = append(orders, inv.o)
	}
	sortByTime(orders)
	return orders, st, nil
}
