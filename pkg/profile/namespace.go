package profile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keys"
	"github.com/segflow/segflow/pkg/keyspace"
)

// Namespaces. A namespace is the key prefix of a whole profile store
// (Config.Prefix): its customers' keys, population indexes and timers. A
// rebuild writes a fresh namespace while the live one keeps serving, and the
// switch between them is one SET of LiveKey, which every reader and writer of
// profiles resolves per batch (see Live). Besides profile state, a
// namespace holds its segment index (shards {#ix.<n>.<k>}, pkg/index), which
// DropNamespace drops with it; nothing else lives under a namespace's prefix
// except the collector's identity links and dedup markers under "sf", which
// DropNamespace leaves.

// RegisterNamespace records that namespace ns holds profiles, before anything
// is written to it, so that an erasure finds it.
func RegisterNamespace(ctx context.Context, rdb redis.UniversalClient, ns string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	if err := rdb.SAdd(ctx, NamespacesKey, ns).Err(); err != nil {
		return fmt.Errorf("register namespace %s: %w", ns, err)
	}
	return nil
}

// Namespaces returns every namespace that may hold profiles: def (the
// configured one), the live one, and those registered, sorted.
func Namespaces(ctx context.Context, rdb redis.UniversalClient, def string) ([]string, error) {
	live, err := LiveNamespace(ctx, rdb, def)
	if err != nil {
		return nil, err
	}
	all, err := rdb.SMembers(ctx, NamespacesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read the namespaces: %w", err)
	}
	out := append(all, def, live)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ErrLive is returned for dropping the live namespace.
var ErrLive = errors.New("namespace is live")

// LiveNamespace returns the live namespace, or def when none was switched to.
func LiveNamespace(ctx context.Context, rdb redis.UniversalClient, def string) (string, error) {
	ns, err := rdb.Get(ctx, LiveKey).Result()
	if errors.Is(err, redis.Nil) {
		return def, nil
	}
	if err != nil {
		return "", fmt.Errorf("read the live namespace: %w", err)
	}
	return ns, nil
}

// SetLive makes ns the live namespace, atomically for every reader.
func SetLive(ctx context.Context, rdb redis.UniversalClient, ns string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	if err := rdb.Set(ctx, LiveKey, ns, 0).Err(); err != nil {
		return fmt.Errorf("switch the live namespace: %w", err)
	}
	return nil
}

// reservedPrefixes start the keys of the other owners of the keyspace: the
// trigger service, the privacy record, imports and the namespace record.
var reservedPrefixes = []string{"tr", "privacy", "import", "segflow"}

func checkNamespace(ns string) error {
	if ns == "" || strings.ContainsAny(ns, "{}:*?[]\\ ") {
		return fmt.Errorf("namespace %q: want a non-empty name without {}:*?[]\\ or spaces", ns)
	}
	if slices.Contains(reservedPrefixes, ns) {
		return fmt.Errorf("namespace %q: reserved (%s)", ns, strings.Join(reservedPrefixes, ", "))
	}
	return nil
}

// inNamespace tells whether key, under prefix ns, is profile state: a
// customer's key or one of the namespace's shared slots (population,
// timers, replay progress, segment index).
func inNamespace(ns, key string) bool {
	if _, ok := keys.SharedOf(ns, key); ok {
		return true
	}
	_, suffix, ok := keys.CustomerOf(ns, key)
	return ok && slices.Contains(customerSuffixes, suffix)
}

// DropNamespace deletes every profile key of namespace ns and returns how
// many it deleted. The live namespace is refused.
func DropNamespace(ctx context.Context, rdb redis.UniversalClient, ns, def string) (int64, error) {
	if err := checkNamespace(ns); err != nil {
		return 0, err
	}
	live, err := LiveNamespace(ctx, rdb, def)
	if err != nil {
		return 0, err
	}
	if live == ns {
		return 0, fmt.Errorf("drop %s: %w", ns, ErrLive)
	}
	var n int64
	err = keyspace.Scan(ctx, rdb, ns+":{*", func(found []string) error {
		var drop []string
		for _, k := range found {
			if inNamespace(ns, k) {
				drop = append(drop, k)
			}
		}
		if len(drop) == 0 {
			return nil
		}
		// One key per command: keys of different customers live in
		// different cluster slots.
		pipe := rdb.Pipeline()
		for _, k := range drop {
			pipe.Unlink(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		n += int64(len(drop))
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("drop namespace %s: %w", ns, err)
	}
	if err := rdb.SRem(ctx, NamespacesKey, ns).Err(); err != nil {
		return n, fmt.Errorf("drop namespace %s: %w", ns, err)
	}
	return n, nil
}

// Prefix is the store's namespace.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// In returns a store with the same configuration in namespace ns.
func (s *Store) In(ns string) *Store {
	cfg := s.cfg
	cfg.Prefix = ns
	return New(s.rdb, cfg)
}

// Customers calls fn with the ids of the customers who have a profile in the
// store (merged profiles included), a scan page at a time, from every master
// of a cluster; fn is called by one goroutine at a time. A customer may be
// listed twice if the keyspace changes during the scan.
func (s *Store) Customers(ctx context.Context, fn func(customers []string) error) error {
	return keyspace.Scan(ctx, s.rdb, s.cfg.Prefix+":{*}:"+customerSuffixes[0], func(found []string) error {
		cs := make([]string, 0, len(found))
		for _, k := range found {
			if c, suffix, ok := keys.CustomerOf(s.cfg.Prefix, k); ok && suffix == customerSuffixes[0] {
				cs = append(cs, c)
			}
		}
		if len(cs) == 0 {
			return nil
		}
		return fn(cs)
	})
}

// NextDue returns the earliest time-driven change due by upTo, if any, and
// the latest of those due within d of it (among the first 500).
func (s *Store) NextDue(ctx context.Context, upTo time.Time, d time.Duration) (first, last time.Time, ok bool, err error) {
	zs, err := s.dueTimers(ctx, upTo, 500)
	if err != nil {
		return first, last, false, err
	}
	if len(zs) == 0 {
		return first, last, false, nil
	}
	lo := int64(zs[0].Score)
	hi := lo
	for _, z := range zs {
		if ms := int64(z.Score); ms <= lo+d.Milliseconds() {
			hi = ms
		}
	}
	return time.UnixMilli(lo).UTC(), time.UnixMilli(hi).UTC(), true, nil
}

// Live is the profile store of the live namespace, resolved from LiveKey.
// Readers and writers that follow a switch resolve it per batch with Store,
// so a batch never spans two namespaces. It is safe for concurrent use.
type Live struct {
	base *Store
	mu   sync.Mutex
	ns   map[string]*Store
}

// NewLive returns the live store of rdb; cfg.Prefix is the namespace that is
// live until a switch names another.
func NewLive(rdb redis.UniversalClient, cfg Config) *Live {
	base := New(rdb, cfg)
	return &Live{base: base, ns: map[string]*Store{base.cfg.Prefix: base}}
}

// Store returns the store of the namespace live now.
func (l *Live) Store(ctx context.Context) (*Store, error) {
	ns, err := LiveNamespace(ctx, l.base.rdb, l.base.cfg.Prefix)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.ns[ns]
	if !ok {
		s = l.base.In(ns)
		l.ns[ns] = s
	}
	return s, nil
}

// Currency is the store currency.
func (l *Live) Currency() string { return l.base.Currency() }

// Get is Store.Get on the live namespace.
func (l *Live) Get(ctx context.Context, T time.Time, customers []string) ([]Profile, error) {
	s, err := l.Store(ctx)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, T, customers)
}

// Put is Store.Put on the store of namespace ns, if one was made: summaries
// of the other namespaces are of no store here.
func (l *Live) Put(ns string, sums ...Summary) {
	l.mu.Lock()
	s, ok := l.ns[ns]
	l.mu.Unlock()
	if ok {
		s.Put(sums...)
	}
}

// Rescore evaluates every customer of the store as of T against one
// population, and calls publish with each page of changes, caused by cause,
// for the caller to publish and Commit, and the customers whose summary
// moved (their population entry, or their snapshot), for the caller to
// publish to the other processes' populations. It reads every record twice:
// first it records each customer's population entry as of T, then it scores
// every customer against the population that holds them all, so that, once
// no other writer moves it, each customer's snapshot is a function of the
// recorded events and T alone, whatever the order of the pages or the
// batches the events were applied in. A bulk rebuild that wrote events with
// Write rescores at the end; the profile-updater rescores the live namespace
// periodically, which publishes the changes the population's own movement
// brings to customers who had no event (a segment entered as others bought).
func (s *Store) Rescore(ctx context.Context, T time.Time, cause Cause, publish func(changes []Change, moved []string) error) error {
	W := s.cfg.Window.Milliseconds()
	err := s.Customers(ctx, func(cs []string) error {
		moved, err := retry(func(bool) ([]string, error) {
			b := s.newBatch(len(cs))
			if err := b.load(ctx, cs...); err != nil {
				return nil, err
			}
			states := make([]*State, len(cs))
			for i, c := range cs {
				states[i] = b.recs[c].state(c, T.UnixMilli(), W) // its entry is all this pass reads
			}
			if _, _, err := s.enter(ctx, b, T, states, nil); err != nil {
				return nil, err
			}
			// Only an entry that moved makes a record dirty here.
			return slices.Collect(maps.Keys(b.dirty)), b.write(ctx)
		})
		if err != nil || len(moved) == 0 {
			return err
		}
		return publish(nil, moved)
	})
	if err != nil {
		return fmt.Errorf("rescore %s: record the population: %w", s.cfg.Prefix, err)
	}
	err = s.Customers(ctx, func(cs []string) error {
		causes := make([]Cause, len(cs))
		for i := range causes {
			causes[i] = cause
		}
		_, _, changes, err := s.settle(ctx, T, cs, causes, true)
		if err != nil || len(changes) == 0 {
			return err
		}
		moved := make([]string, len(changes))
		for i, ch := range changes {
			moved[i] = ch.Customer
		}
		return publish(changes, moved)
	})
	if err != nil {
		return fmt.Errorf("rescore %s: %w", s.cfg.Prefix, err)
	}
	return nil
}
