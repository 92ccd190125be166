package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/term"
)

// console is stderr, shared by the log and a progress line. On a terminal a
// log line clears the progress line, and the progress line is drawn again
// below it, so that neither garbles the other; elsewhere there is no
// progress line and log lines pass through.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	line string // the progress line on the screen; "": none
}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\033[K"

func newConsole(w io.Writer) *console {
	f, ok := w.(*os.File)
	return &console{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// Write writes a log line above the progress line.
func (c *console) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line != "" {
		_, _ = io.WriteString(c.w, clearLine)
	}
	n, err := c.w.Write(b)
	if c.line != "" {
		_, _ = io.WriteString(c.w, c.line)
	}
	return n, err
}

// show replaces the progress line with line.
func (c *console) show(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, clearLine+line)
	c.line = line
}

// end leaves the progress line on the screen and ends it.
func (c *console) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line != "" {
		_, _ = io.WriteString(c.w, "\n")
	}
	c.line = ""
}

// progress shows how far a long run is: how many units are done, the share
// of the work done, the rate and the time left. On a terminal it is a line
// redrawn every redrawEvery; elsewhere a log line every logEvery.
type progress struct {
	con   *console
	log   *zap.Logger
	unit  string // what is counted: "rows acknowledged", "events"
	start time.Time
	last  time.Time
	n     int64   // units done
	total int64   // units to do; 0: unknown
	share float64 // share of the work done, 0 to 1
}

const (
	redrawEvery = 200 * time.Millisecond
	logEvery    = 5 * time.Second
)

func newProgress(con *console, log *zap.Logger, unit string) *progress {
	now := time.Now()
	return &progress{con: con, log: log, unit: unit, start: now, last: now}
}

// set records that n units are done, share of the work, out of total units
// (0: unknown).
func (p *progress) set(n, total int64, share float64) {
	p.n, p.total, p.share = n, total, min(max(share, 0), 1)
	now := time.Now()
	every := logEvery
	if p.con.tty {
		every = redrawEvery
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	if p.con.tty {
		p.con.show(p.line(now))
		return
	}
	p.logLine("progress", now)
}

// finish shows the last figures.
func (p *progress) finish() {
	now := time.Now()
	if p.con.tty {
		p.con.show(p.line(now))
		p.con.end()
		return
	}
	p.logLine("finished", now)
}

// rate is units per second so far, and eta the time left at the rate the
// share of the work has been done so far; ok is false while it is unknown.
func (p *progress) rate(now time.Time) (perSecond float64, eta time.Duration, ok bool) {
	elapsed := now.Sub(p.start)
	perSecond = float64(p.n) / max(elapsed.Seconds(), 1e-9)
	if p.share <= 0 || p.share >= 1 {
		return perSecond, 0, false
	}
	return perSecond, time.Duration(float64(elapsed) * (1 - p.share) / p.share), true
}

// line is the progress line at now, e.g.
// "12,345 rows acknowledged · 42% · 3,210/s · ETA 1m20s".
func (p *progress) line(now time.Time) string {
	s := thousands(p.n) + " " + p.unit
	if p.total > 0 {
		s = thousands(p.n) + " of " + thousands(p.total) + " " + p.unit
	}
	perSecond, eta, ok := p.rate(now)
	if p.share > 0 {
		s += fmt.Sprintf(" · %d%%", int(p.share*100))
	}
	s += " · " + thousands(int64(perSecond)) + "/s"
	if ok {
		s += " · ETA " + eta.Round(time.Second).String()
	}
	return s
}

func (p *progress) logLine(msg string, now time.Time) {
	perSecond, eta, ok := p.rate(now)
	fields := []zap.Field{zap.Int64("done", p.n), zap.String("unit", p.unit), zap.Float64("share", p.share),
		zap.Float64("per_second", perSecond), zap.Duration("elapsed", now.Sub(p.start).Round(time.Millisecond))}
	if p.total > 0 {
		fields = append(fields, zap.Int64("total", p.total))
	}
	if ok {
		fields = append(fields, zap.Duration("eta", eta.Round(time.Second)))
	}
	p.log.Info(msg, fields...)
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
