package health

import (
	"sync"
	"time"
)

// Throttle lets one event of each key through per Every and counts those it
// holds back, so that a failure repeated by every request of an outage is
// logged once in a while, with how often it happened. The zero value holds
// nothing back; it is safe for concurrent use.
type Throttle struct {
	Every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

// Allow tells whether an event of key at now goes through, and if it does,
// how many of key were held back since the last one that went through.
func (t *Throttle) Allow(key string, now time.Time) (held int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last, t.held = map[string]time.Time{}, map[string]int{}
	}
	if last, seen := t.last[key]; seen && now.Sub(last) < t.Every {
		t.held[key]++
		return 0, false
	}
	held = t.held[key]
	t.last[key], t.held[key] = now, 0
	return held, true
}
