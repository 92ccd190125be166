package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Errors of the Store that callers tell apart.
var (
	// ErrNotFound: no broadcast has the id.
	ErrNotFound = errors.New("no such broadcast")
	// ErrExists: a different broadcast has the id given.
	ErrExists = errors.New("a different broadcast has this id")
	// ErrFinished: the broadcast has finished (sent, failed or cancelled),
	// so it cannot be cancelled.
	ErrFinished = errors.New("the broadcast has finished")
)

// Status is where a broadcast is.
type Status string

// Statuses of a broadcast.
const (
	// Scheduled: its next occurrence has not opened.
	Scheduled Status = "scheduled"
	// Sending: an occurrence is open, its members being decided.
	Sending Status = "sending"
	// Done: a Now or At broadcast whose members were all decided.
	Done      Status = "done"
	Cancelled Status = "cancelled"
	// Failed: it cannot go on (its campaign was removed); Progress.Error
	// says why.
	Failed Status = "failed"
)

// Progress is how far a broadcast is.
type Progress struct {
	Status Status `json:"status"`
	// Occurrence is the current occurrence (or the next, when Scheduled):
	// "once", or the date of a recurring one.
	Occurrence string `json:"occurrence,omitempty"`
	// Opens is when it opens (opened).
	Opens time.Time `json:"opens,omitzero"`
	// Members is how many of the current occurrence's audience are queued
	// so far, Decided how many of them are decided, and Skipped how many
	// were left out because their hour had passed when the broadcast was made.
	Members int64 `json:"members"`
	Decided int64 `json:"decided"`
	Skipped int64 `json:"skipped,omitempty"`
	// Occurrences is how many occurrences have been sent in full.
	Occurrences int64 `json:"occurrences"`
	// OccurrencesSkipped is how many occurrences were not sent because
	// they were stale when the broadcast came to them: their last time zone
	// had passed the hour by more than the runner's Grace (a runner stopped
	// for that long).
	OccurrencesSkipped int64 `json:"occurrences_skipped,omitempty"`
	// Outcomes counts the decisions of every occurrence by outcome: sent,
	// holdout, or the guard that suppressed it (consent, cap, cooldown,
	// budget, premise, no_coupon), waiting for those held until the end
	// of the quiet hours (counted by their outcome instead once the
	// trigger service has decided them then), and erased for those erased
	// after the occurrence opened (no decision).
	Outcomes    map[string]int64 `json:"outcomes"`
	Error       string           `json:"error,omitempty"`
	CancelledAt time.Time        `json:"cancelled_at,omitzero"`
	FinishedAt  time.Time        `json:"finished_at,omitzero"`
}

// View is a broadcast with its progress.
type View struct {
	Broadcast
	Progress Progress `json:"progress"`
}

// Fields of a broadcast's state hash (stateKey).
const (
	fOccurrence  = "occurrence"
	fOpens       = "opens"       // ms
	fFill        = "fill"        // the last member queued, the fill's cursor
	fFilled      = "filled"      // "1" once the whole audience is queued
	fSkipped     = "skipped"     // left out of the first occurrence
	fOccurrences = "occurrences" // occurrences sent in full
	fStale       = "stale"       // occurrences skipped, stale
	fFinished    = "finished"    // ms
	fCancelled   = "cancelled"   // ms
	fError       = "error"
	fOutcome     = "n:" // + outcome: count, in the shards' counts
)

// Store keeps broadcasts in Redis.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore returns the broadcasts of rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Create stores b, which Check has passed, and schedules its first
// occurrence. An empty ID is given a new one. Creating a broadcast again with
// the same ID and definition (a retried request) returns it as it is; with
// another definition, ErrExists.
func (s *Store) Create(ctx context.Context, b Broadcast) (View, error) {
	if b.ID == "" {
		b.ID = uuid.NewString()
	}
	b.CreatedAt = b.CreatedAt.UTC().Truncate(time.Millisecond)
	def, err := json.Marshal(b)
	if err != nil {
		return View{}, fmt.Errorf("encode broadcast: %w", err)
	}
	ok, err := s.rdb.SetNX(ctx, defKey(b.ID), def, 0).Result()
	if err != nil {
		return View{}, fmt.Errorf("store broadcast %s: %w", b.ID, err)
	}
	if !ok {
		prev, err := s.def(ctx, b.ID)
		if err != nil {
			return View{}, err
		}
		if !same(prev, b) {
			return View{}, fmt.Errorf("broadcast %s: %w", b.ID, ErrExists)
		}
		b = prev
	}
	// Written after the definition, and again by a retry: a crash between
	// leaves a definition that a retry makes visible.
	key, opens := b.first()
	pipe := s.rdb.Pipeline()
	pipe.HSetNX(ctx, stateKey(b.ID), fOccurrence, key)
	pipe.HSetNX(ctx, stateKey(b.ID), fOpens, opens.UnixMilli())
	pipe.ZAddNX(ctx, allKey(), redis.Z{Score: float64(b.CreatedAt.UnixMilli()), Member: b.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		return View{}, fmt.Errorf("schedule broadcast %s: %w", b.ID, err)
	}
	if err := s.rdb.SAdd(ctx, activeKey(), b.ID).Err(); err != nil {
		return View{}, fmt.Errorf("schedule broadcast %s: %w", b.ID, err)
	}
	return s.Get(ctx, b.ID)
}

// same tells whether a and b are the same broadcast but for when and by
// whom they were made.
func same(a, b Broadcast) bool {
	a.CreatedAt, b.CreatedAt, a.CreatedBy, b.CreatedBy = time.Time{}, time.Time{}, "", ""
	return a == b
}

func (s *Store) def(ctx context.Context, id string) (Broadcast, error) {
	raw, err := s.rdb.Get(ctx, defKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Broadcast{}, fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Broadcast{}, fmt.Errorf("read broadcast %s: %w", id, err)
	}
	var b Broadcast
	if err := json.Unmarshal(raw, &b); err != nil {
		return Broadcast{}, fmt.Errorf("decode broadcast %s: %w", id, err)
	}
	return b, nil
}

// Get returns broadcast id with its progress.
func (s *Store) Get(ctx context.Context, id string) (View, error) {
	b, err := s.def(ctx, id)
	if err != nil {
		return View{}, err
	}
	h, err := s.rdb.HGetAll(ctx, stateKey(id)).Result()
	if err != nil {
		return View{}, fmt.Errorf("read progress of broadcast %s: %w", id, err)
	}
	n, err := readCounts(ctx, s.rdb, id, h[fOpens])
	if err != nil {
		return View{}, err
	}
	return View{Broadcast: b, Progress: progressOf(h, n)}, nil
}

// List returns up to limit broadcasts, the newest first, made before the
// one whose id is before ("" for the newest), and the id to pass as before
// for the next page ("" on the last).
func (s *Store) List(ctx context.Context, before string, limit int) ([]View, string, error) {
	from := int64(0)
	if before != "" {
		rank, err := s.rdb.ZRevRank(ctx, allKey(), before).Result()
		if errors.Is(err, redis.Nil) {
			return nil, "", fmt.Errorf("cursor %s: %w", before, ErrNotFound)
		}
		if err != nil {
			return nil, "", fmt.Errorf("list broadcasts: %w", err)
		}
		from = rank + 1
	}
	ids, err := s.rdb.ZRevRange(ctx, allKey(), from, from+int64(limit)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list broadcasts: %w", err)
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]View, 0, len(ids))
	for _, id := range ids {
		v, err := s.Get(ctx, id)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}

// Cancel cancels broadcast id: it decides no more members (a step under
// way finishes its batch). It returns the broadcast as cancelled, or
// ErrFinished if it had finished.
func (s *Store) Cancel(ctx context.Context, id string, now time.Time) (View, error) {
	if _, err := s.def(ctx, id); err != nil {
		return View{}, err
	}
	done, err := cancelScript.Run(ctx, s.rdb, []string{stateKey(id)}, now.UnixMilli()).Int()
	if err != nil {
		return View{}, fmt.Errorf("cancel broadcast %s: %w", id, err)
	}
	if done == 0 {
		return View{}, fmt.Errorf("broadcast %s: %w", id, ErrFinished)
	}
	return s.Get(ctx, id)
}

// cancelScript marks a broadcast cancelled unless it has finished.
// KEYS[1] -> bc:{<id>}:state
// ARGV[1] -> now (Unix ms)
// It returns 1 if the broadcast is cancelled (now or before), 0 if it had
// finished or failed.
var cancelScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'finished') == 1 or redis.call('HEXISTS', KEYS[1], 'error') == 1 then return 0 end
redis.call('HSETNX', KEYS[1], 'cancelled', ARGV[1])
return 1
`)

// progressOf reads a state hash and the counts of the shards.
func progressOf(h map[string]string, n shardCounts) Progress {
	num := func(f string) int64 { n, _ := strconv.ParseInt(h[f], 10, 64); return n }
	at := func(f string) time.Time {
		if h[f] == "" {
			return time.Time{}
		}
		return time.UnixMilli(num(f)).UTC()
	}
	p := Progress{
		Occurrence: h[fOccurrence], Opens: at(fOpens), Members: n.members, Decided: n.decided, Skipped: num(fSkipped),
		Occurrences: num(fOccurrences), OccurrencesSkipped: num(fStale), Error: h[fError], CancelledAt: at(fCancelled), FinishedAt: at(fFinished),
		Outcomes: n.outcomes,
	}
	switch {
	case p.Error != "":
		p.Status = Failed
	case !p.CancelledAt.IsZero():
		p.Status = Cancelled
	case !p.FinishedAt.IsZero():
		p.Status = Done
	case h[fFill] != "" || h[fFilled] != "":
		p.Status = Sending
	default:
		p.Status = Scheduled
	}
	return p
}
