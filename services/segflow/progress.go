package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// progress shows how far a long run is: a bar with rate and ETA when stderr
// is a terminal, a structured log line every progressEvery otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	log   *zap.Logger
	total int64
	unit  string
	start time.Time
	last  time.Time
	n     int64
}

const progressEvery = 5 * time.Second

func newProgress(w io.Writer, log *zap.Logger, total int64, unit string) *progress {
	p := &progress{log: log, total: total, unit: unit, start: time.Now(), last: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(w), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200 * time.Millisecond), progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
		}
		if unit == "bytes" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		p.bar = progressbar.NewOptions64(max(total, 1), opts...)
	}
	return p
}

// setTotal changes what the run goes to (a replay catching up).
func (p *progress) setTotal(total int64) {
	p.total = total
	if p.bar != nil {
		p.bar.ChangeMax64(max(total, 1))
	}
}

func (p *progress) set(n int64) {
	p.n = n
	if p.bar != nil {
		_ = p.bar.Set64(n)
		return
	}
	if time.Since(p.last) >= progressEvery {
		p.last = time.Now()
		p.logLine("progress")
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	p.logLine("finished")
}

func (p *progress) logLine(msg string) {
	elapsed := time.Since(p.start)
	rate := float64(p.n) / max(elapsed.Seconds(), 1e-9)
	fields := []zap.Field{zap.Int64("done", p.n), zap.Int64("total", p.total), zap.String("unit", p.unit),
		zap.Float64("per_second", rate), zap.Duration("elapsed", elapsed.Round(time.Millisecond))}
	if rate > 0 && p.total > p.n {
		fields = append(fields, zap.Duration("eta", time.Duration(float64(p.total-p.n)/rate*float64(time.Second)).Round(time.Second)))
	}
	p.log.Info(msg, fields...)
}
