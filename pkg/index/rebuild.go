package index

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/profile"
)

// In returns the index of namespace ns in the same Redis.
func (ix *Index) In(ns string) *Index { return New(ix.rdb, ns) }

// Rebuild replaces the index with the snapshots that the profiles of store
// published last (profile.Store.Published), and returns how many customers
// it indexed: the index of a namespace whose changes were never indexed, such
// as one a replay built without publishing them. Readers see the index
// partly built until Rebuild returns, so a namespace is rebuilt before it is
// made live.
//
// Entries are recorded as of now: a change of a later time, such as the
// updater's once the namespace is live, wins over them, and an earlier one is
// ignored, such as one the updater published for the namespace live before
// and the indexer takes for the new one after the switch. The NES
// distribution is recorded for the day of now.
func (ix *Index) Rebuild(ctx context.Context, store *profile.Store, now time.Time) (int, error) {
	if err := ix.clear(ctx); err != nil {
		return 0, err
	}
	keys := []string{ix.base() + "snap", ix.base() + "days"}
	day := now.UTC()
	n := 0
	err := store.Customers(ctx, func(customers []string) error {
		snaps, err := store.Published(ctx, customers)
		if err != nil {
			return err
		}
		_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for c, snap := range snaps {
				b, err := json.Marshal(snap)
				if err != nil {
					return err
				}
				applyScript.Eval(ctx, pipe, keys, ix.base(), c, now.UnixMilli(), b, day.Format(time.DateOnly), day.Unix()/86400)
			}
			return nil
		})
		n += len(snaps)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("rebuild the index of %s: %w", ix.prefix, err)
	}
	return n, nil
}

// clear deletes every key of the index. They are all named by the index
// itself (names, days), so no key scan is needed.
func (ix *Index) clear(ctx context.Context) error {
	del := []string{ix.base() + "snap", ix.base() + "days"}
	for _, kind := range []string{Stage, Segment, Tier, Tag} {
		names, err := ix.names(ctx, kind)
		if err != nil {
			return err
		}
		for _, name := range names {
			del = append(del, ix.base()+kind+":"+name)
		}
		del = append(del, ix.base()+"names:"+kind)
	}
	dates, err := ix.rdb.ZRange(ctx, ix.base()+"days", 0, -1).Result()
	if err != nil {
		return fmt.Errorf("read recorded days: %w", err)
	}
	for _, d := range dates {
		del = append(del, ix.base()+"day:"+d)
	}
	_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for len(del) > 0 {
			k := del[:min(len(del), 500)]
			del = del[len(k):]
			pipe.Unlink(ctx, k...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear the index of %s: %w", ix.prefix, err)
	}
	return nil
}

// CopyDays copies into the index the NES record of from for the days before
// the day of before, and returns how many days it copied: the history of the
// namespace live before a switch, which a rebuilt index lacks, as it records
// the day of its rebuild only.
func (ix *Index) CopyDays(ctx context.Context, from *Index, before time.Time) (int, error) {
	day := before.UTC().Truncate(24 * time.Hour)
	days, err := from.Days(ctx, time.Unix(0, 0), day.Add(-time.Millisecond))
	if err != nil {
		return 0, err
	}
	_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, d := range days {
			at, err := time.Parse(time.DateOnly, d.Date)
			if err != nil {
				return err
			}
			for st, n := range d.Stages {
				pipe.HSet(ctx, ix.base()+"day:"+d.Date, st, n)
			}
			pipe.ZAdd(ctx, ix.base()+"days", redis.Z{Score: float64(at.Unix() / 86400), Member: d.Date})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("copy the NES record of %s into %s: %w", from.prefix, ix.prefix, err)
	}
	return len(days), nil
}
