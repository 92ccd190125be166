package collector

import (
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// unknownPath answers a POST to a path under /v1/ that no route serves: 404,
// through handle so a browser gets the CORS headers and can read it. Each one
// is counted, and logged at most once per unknownLogEvery with how many went
// unlogged since, so that traffic lost to a client sending where segflow does
// not listen is visible without flooding the log.
func (c *Collector) unknownPath(_ http.ResponseWriter, r *http.Request, received time.Time) (response, error) {
	c.m.unknownPaths.Inc()
	if skipped, ok := c.unknownLog.allow(received); ok {
		c.log.Warn("POST to an unknown path under /v1/",
			zap.String("path", clip(r.URL.Path, 100)),
			zap.Int("unlogged_since_last", skipped))
	}
	return response{}, fmt.Errorf("%w: POST %s; Segment libraries post to /v1/{t,p,s,i,a,b} or /v1/{track,page,screen,identify,alias,batch,import}, CloudEvents to /v1/events", errNotFound, clip(r.URL.Path, 100))
}

// unknownLogEvery is how often an unknown path is logged at most.
const unknownLogEvery = time.Minute

// throttle lets one occurrence through per interval and counts the others.
type throttle struct {
	every   time.Duration
	mu      sync.Mutex
	last    time.Time
	skipped int
}

// allow reports whether the occurrence at now is to be logged, and how many
// were not since the last that was.
func (t *throttle) allow(now time.Time) (skipped int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.every {
		t.skipped++
		return 0, false
	}
	skipped, t.skipped, t.last = t.skipped, 0, now
	return skipped, true
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
