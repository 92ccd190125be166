package replay

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/stream"
)

// plan is what a replay reads: per partition, where it started, the next
// offset to apply and the end offset (exclusive), and the replay's clock.
type plan struct {
	parts             []Partition
	start, next, end  map[Partition]int64
	T                 time.Time
	topics, namespace string
}

func (p *plan) remaining() int64 {
	var n int64
	for _, pt := range p.parts {
		n += max(p.end[pt]-p.next[pt], 0)
	}
	return n
}

func (p *plan) progress() (done, total int64) {
	for _, pt := range p.parts {
		done += p.next[pt] - p.start[pt]
		total += p.end[pt] - p.start[pt]
	}
	return done, total
}

const (
	stateRunning = "running"
	stateDone    = "done"
)

// loadPlan returns the unfinished plan of the namespace, or a new one.
func (r *Replayer) loadPlan(ctx context.Context) (*plan, bool, error) {
	key := ProgressKey(r.store.Prefix())
	topics := strings.Join(r.cfg.Topics, ",")
	if r.cfg.Fresh {
		if err := r.rdb.Del(ctx, key).Err(); err != nil {
			return nil, false, fmt.Errorf("discard the replay progress: %w", err)
		}
	}
	h, err := r.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, false, fmt.Errorf("read the replay progress: %w", err)
	}
	if h["state"] == stateRunning && h["topics"] == topics {
		p, err := parsePlan(h)
		if err != nil {
			return nil, false, err
		}
		p.namespace = r.store.Prefix()
		return p, true, nil
	}
	p, err := r.newPlan(ctx)
	if err != nil {
		return nil, false, err
	}
	p.topics, p.namespace = topics, r.store.Prefix()
	if err := r.rdb.Del(ctx, key).Err(); err != nil {
		return nil, false, fmt.Errorf("reset the replay progress: %w", err)
	}
	return p, false, r.save(ctx, p, p.parts)
}

func parsePlan(h map[string]string) (*plan, error) {
	p := &plan{start: map[Partition]int64{}, next: map[Partition]int64{}, end: map[Partition]int64{}, topics: h["topics"]}
	for k, v := range h {
		switch k {
		case "topics", "state":
			continue
		case "T":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("replay progress: T %q", v)
			}
			if ms != 0 {
				p.T = time.UnixMilli(ms).UTC()
			}
			continue
		}
		pt, err := ParsePartition(k)
		if err != nil {
			return nil, fmt.Errorf("replay progress: %w", err)
		}
		parts := strings.Split(v, "|")
		if len(parts) != 3 {
			return nil, fmt.Errorf("replay progress of %s: %q", k, v)
		}
		var n [3]int64
		for i, s := range parts {
			if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, fmt.Errorf("replay progress of %s: %q", k, v)
			}
		}
		p.parts = append(p.parts, pt)
		p.start[pt], p.next[pt], p.end[pt] = n[0], n[1], n[2]
	}
	sortParts(p.parts)
	return p, nil
}

func sortParts(ps []Partition) {
	slices.SortFunc(ps, func(a, b Partition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
}

// save records the progress of parts and the clock.
func (r *Replayer) save(ctx context.Context, p *plan, parts []Partition) error {
	args := []any{"state", stateRunning, "topics", p.topics, "T", r.clockMs(p)}
	for _, pt := range parts {
		args = append(args, pt.String(), fmt.Sprintf("%d|%d|%d", p.start[pt], p.next[pt], p.end[pt]))
	}
	if err := r.rdb.HSet(ctx, ProgressKey(p.namespace), args...).Err(); err != nil {
		return fmt.Errorf("save the replay progress: %w", err)
	}
	return nil
}

func (r *Replayer) clockMs(p *plan) int64 {
	T := r.T
	if T.IsZero() {
		T = p.T
	}
	if T.IsZero() {
		return 0
	}
	return T.UnixMilli()
}

func (r *Replayer) finish(ctx context.Context) error {
	if err := r.save(ctx, r.plan, nil); err != nil {
		return err
	}
	if err := r.rdb.HSet(ctx, ProgressKey(r.plan.namespace), "state", stateDone).Err(); err != nil {
		return fmt.Errorf("save the replay progress: %w", err)
	}
	return nil
}

func (r *Replayer) client() *kafka.Client {
	return r.cfg.Security.Client(r.cfg.Brokers)
}

// newPlan finds the partitions of the topics and their start and end offsets.
func (r *Replayer) newPlan(ctx context.Context) (*plan, error) {
	meta, err := r.client().Metadata(ctx, &kafka.MetadataRequest{Topics: r.cfg.Topics})
	if err != nil {
		return nil, fmt.Errorf("read the partitions of %s: %w", strings.Join(r.cfg.Topics, ","), err)
	}
	p := &plan{start: map[Partition]int64{}, next: map[Partition]int64{}, end: map[Partition]int64{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, pa := range t.Partitions {
			p.parts = append(p.parts, Partition{Topic: t.Name, Partition: pa.ID})
		}
	}
	sortParts(p.parts)
	for pt := range r.cfg.Offsets {
		if !slices.Contains(p.parts, pt) {
			return nil, fmt.Errorf("offset for %s: no such partition among the topics replayed", pt)
		}
	}
	first, err := r.offsets(ctx, p.parts, firstOffset)
	if err != nil {
		return nil, err
	}
	last, err := r.offsets(ctx, p.parts, lastOffset)
	if err != nil {
		return nil, err
	}
	var at map[Partition]int64
	if !r.cfg.From.IsZero() {
		if at, err = r.offsets(ctx, p.parts, timeOffset); err != nil {
			return nil, err
		}
	}
	for _, pt := range p.parts {
		s := first[pt]
		if o, ok := at[pt]; ok {
			s = o
		}
		if o, ok := r.cfg.Offsets[pt]; ok {
			s = o
		}
		s = min(max(s, first[pt]), last[pt])
		p.start[pt], p.next[pt], p.end[pt] = s, s, last[pt]
	}
	return p, nil
}

// Kinds of offset lookups.
const (
	firstOffset = iota
	lastOffset
	timeOffset
)

// offsets asks the brokers for one offset of each partition: its first, its
// end, or the first at or after From. A lookup by time that finds no message
// at or after the time answers the end of the log.
func (r *Replayer) offsets(ctx context.Context, parts []Partition, kind int) (map[Partition]int64, error) {
	lr := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, pt := range parts {
		req := kafka.FirstOffsetOf(pt.Partition)
		switch kind {
		case lastOffset:
			req = kafka.LastOffsetOf(pt.Partition)
		case timeOffset:
			req = kafka.TimeOffsetOf(pt.Partition, r.cfg.From)
		}
		lr.Topics[pt.Topic] = append(lr.Topics[pt.Topic], req)
	}
	resp, err := r.client().ListOffsets(ctx, lr)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := map[Partition]int64{}
	var none []Partition
	for topic, ps := range resp.Topics {
		for _, po := range ps {
			pt := Partition{Topic: topic, Partition: po.Partition}
			if po.Error != nil {
				return nil, fmt.Errorf("list offsets of %s: %w", pt, po.Error)
			}
			switch kind {
			case firstOffset:
				out[pt] = po.FirstOffset
			case lastOffset:
				out[pt] = po.LastOffset
			default:
				found := false
				for o := range po.Offsets {
					if o >= 0 {
						out[pt], found = o, true
					}
				}
				if !found {
					none = append(none, pt) // nothing written at or after the time
				}
			}
		}
	}
	if len(none) > 0 {
		last, err := r.offsets(ctx, none, lastOffset)
		if err != nil {
			return nil, err
		}
		for pt, o := range last {
			out[pt] = o
		}
	}
	for _, pt := range parts {
		if o, ok := out[pt]; !ok || o < 0 {
			return nil, fmt.Errorf("list offsets: no answer for %s", pt)
		}
	}
	return out, nil
}

// extend moves the end of the plan to the partitions' current end offsets
// and returns how many events remain.
func (r *Replayer) extend(ctx context.Context) (int64, error) {
	last, err := r.offsets(ctx, r.plan.parts, lastOffset)
	if err != nil {
		return 0, err
	}
	for _, pt := range r.plan.parts {
		r.plan.end[pt] = max(r.plan.end[pt], last[pt])
	}
	return r.plan.remaining(), r.save(ctx, r.plan, r.plan.parts)
}

// item is one message read, decoded.
type item struct {
	part   Partition
	topic  string
	offset int64
	msg    kafka.Message
	ev     cloudevents.Event
	err    error
	at     time.Time // event time; the message's time for what has none
	idx    int       // the partition's place in the plan, for a stable merge
}

// read applies the plan's remaining messages, merged across partitions by
// event time, batch by batch, saving the progress after each.
func (r *Replayer) read(ctx context.Context, res *Result) error {
	p := r.plan
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var readErr error
	var h heads
	for i, pt := range p.parts {
		if p.next[pt] >= p.end[pt] {
			continue
		}
		ch := make(chan item, 256)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			if err := r.readPartition(rctx, pt, i, p.next[pt], p.end[pt], ch); err != nil && rctx.Err() == nil {
				mu.Lock()
				readErr = err
				mu.Unlock()
				cancel()
			}
		}()
		if it, ok := <-ch; ok {
			h = append(h, &head{it: it, ch: ch})
		}
	}
	// On any return, the readers and the read-ahead stop before we do.
	defer func() { cancel(); wg.Wait() }()
	heap.Init(&h)
	// The next window is read while one is applied.
	chunks := make(chan []item, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(chunks)
		for h.Len() > 0 {
			// Up to SortWindow messages in merged order, sorted by event
			// time: partitions need not be in event-time order (an import
			// sorted by customer is not).
			chunk := make([]item, 0, min(r.cfg.SortWindow, 1<<16))
			for h.Len() > 0 && len(chunk) < r.cfg.SortWindow {
				top := h[0]
				chunk = append(chunk, top.it)
				if it, ok := <-top.ch; ok {
					top.it = it
					heap.Fix(&h, 0)
				} else {
					heap.Pop(&h)
				}
			}
			if !r.cfg.Bulk {
				slices.SortStableFunc(chunk, func(a, b item) int { return a.at.Compare(b.at) })
			}
			select {
			case chunks <- chunk:
			case <-rctx.Done():
				return
			}
		}
	}()
	for chunk := range chunks {
		// A batch under way completes even when the run is being stopped.
		bctx := context.WithoutCancel(ctx)
		stopped := false
		for i := 0; i < len(chunk); {
			j := i + 1
			for j < len(chunk) && j-i < r.cfg.BatchSize && (r.cfg.Bulk || !chunk[j].at.After(chunk[i].at.Add(r.cfg.Step))) {
				j++
			}
			if err := r.apply(bctx, chunk[i:j], res); err != nil {
				return err
			}
			i = j
			if r.Progress != nil {
				done, total := p.progress()
				r.Progress(done+int64(i), total)
			}
			if ctx.Err() != nil && i < len(chunk) {
				stopped = true
				break
			}
		}
		if stopped {
			// What was applied of the chunk is not a prefix of each
			// partition: the progress stays at the chunk's start, and a
			// resumed run applies the chunk again, which changes nothing.
			break
		}
		var touched []Partition
		for _, it := range chunk {
			if it.offset+1 > p.next[it.part] {
				p.next[it.part] = it.offset + 1
				touched = append(touched, it.part)
			}
		}
		if err := r.save(bctx, p, touched); err != nil {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	return readErr
}

func (r *Replayer) readPartition(ctx context.Context, pt Partition, idx int, from, to int64, out chan<- item) error {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: r.cfg.Brokers, Dialer: r.cfg.Security.Dialer(), Topic: pt.Topic, Partition: pt.Partition,
		MinBytes: 1, MaxBytes: stream.FetchBytes, MaxWait: 200 * time.Millisecond,
	})
	defer rd.Close()
	if err := rd.SetOffset(from); err != nil {
		return fmt.Errorf("seek %s to %d: %w", pt, from, err)
	}
	for next := from; next < to; {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s at %d: %w", pt, next, err)
		}
		if m.Offset >= to {
			return nil
		}
		it := item{part: pt, topic: pt.Topic, offset: m.Offset, msg: m, idx: idx, at: m.Time.UTC()}
		it.ev, it.err = stream.FromMessage(m)
		if it.err == nil && !it.ev.Time().IsZero() {
			it.at = it.ev.Time().UTC()
		}
		select {
		case out <- it:
		case <-ctx.Done():
			return ctx.Err()
		}
		next = m.Offset + 1
	}
	return nil
}

type head struct {
	it item
	ch <-chan item
}

// heads is a min-heap of the partitions' next messages by event time.
type heads []*head

func (h heads) Len() int { return len(h) }
func (h heads) Less(i, j int) bool {
	if !h[i].it.at.Equal(h[j].it.at) {
		return h[i].it.at.Before(h[j].it.at)
	}
	return h[i].it.idx < h[j].it.idx
}
func (h heads) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heads) Push(x any)   { *h = append(*h, x.(*head)) }
func (h *heads) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
