package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/testenv"
)

func TestTheProgressLineShowsUnitsDoneWithRateAndTimeLeft(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		n       int64
		total   int64
		share   float64
		elapsed time.Duration
		want    string
	}{
		// 500 rows in 10 s is 50/s; a quarter of the file in 10 s leaves three quarters: 30 s.
		{"rows acknowledged with the share of the file read", 500, 0, 0.25, 10 * time.Second, "500 rows acknowledged · 25% · 50/s · ETA 30s"},
		{"a known total", 12345, 50000, 12345.0 / 50000, 5 * time.Second, "12,345 of 50,000 rows acknowledged · 24% · 2,469/s · ETA 15s"},
		{"nothing done yet has no time left", 0, 0, 0, time.Second, "0 rows acknowledged · 0/s"},
		{"all done has no time left", 1_234_567, 0, 1, 100 * time.Second, "1,234,567 rows acknowledged · 100% · 12,345/s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &progress{unit: "rows acknowledged", start: start, n: tc.n, total: tc.total, share: tc.share}
			if got := p.line(start.Add(tc.elapsed)); got != tc.want {
				t.Errorf("line %q, want %q", got, tc.want)
			}
		})
	}
}

// TestALogLineWrittenDuringTheProgressLineIsNotGarbled writes a log line
// while a progress line is on a terminal: the log line must start on an
// erased line, and the progress line come back below it.
func TestALogLineWrittenDuringTheProgressLineIsNotGarbled(t *testing.T) {
	var screen bytes.Buffer
	con := &console{w: &screen, tty: true}
	con.show("10 rows acknowledged")
	log, err := newLogger(&config{LogFormat: "json", LogLevel: "info"}, con)
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("slow broker")
	con.show("20 rows acknowledged")
	con.end()
	got := screen.String()
	logAt := strings.Index(got, `{"level":"warn"`)
	if logAt < 0 {
		t.Fatalf("no log line on the screen: %q", got)
	}
	if !strings.HasSuffix(got[:logAt], "10 rows acknowledged"+clearLine) {
		t.Errorf("the log line does not start on an erased line: %q", got)
	}
	if rest := got[logAt:]; !strings.Contains(rest, "\n10 rows acknowledged"+clearLine+"20 rows acknowledged\n") {
		t.Errorf("the progress line is not drawn again below the log line: %q", rest)
	}
}

// TestAnImportReportsRowsNotBytes imports a file whose size in bytes is far
// from its count of rows: off a terminal, the last progress log counts the
// rows acknowledged (before: the bytes read).
func TestAnImportReportsRowsNotBytes(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	path := ordersFile(t, "1,alice,2024-01-02,10.00,USD\n2,bob,2024-01-03,5.00,USD\n3,carol,2024-01-04,7.00,USD\n")
	code, _, errOut := call(t, 60*time.Second, "import", "orders", "--kafka-brokers", k.Brokers[0], "--redis-addr", r.Addr, path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	var finished struct {
		Msg   string  `json:"msg"`
		Done  int64   `json:"done"`
		Unit  string  `json:"unit"`
		Share float64 `json:"share"`
	}
	for _, line := range strings.Split(errOut, "\n") {
		var l struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "finished" {
			_ = json.Unmarshal([]byte(line), &finished)
		}
	}
	if finished.Done != 3 || finished.Unit != "rows acknowledged" || finished.Share != 1 {
		t.Errorf("last progress %+v, want 3 rows acknowledged, share 1; log:\n%s", finished, errOut)
	}
}
