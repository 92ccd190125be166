package index

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
	day := now.UTC()
	date, dayNum := day.Format(time.DateOnly), day.Unix()/86400
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
				applyScript.Eval(ctx, pipe, ix.shard(c).all(), c, now.UnixMilli(), b, date, dayNum)
			}
			return nil
		})
		n += len(snaps)
		return err
	})
	if err == nil {
		// The day of the rebuild in every shard, those left empty too: a
		// shard's record stands until its next one (see Days), and no
		// record copied from before may stand for it (CopyDays).
		_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, sh := range ix.shards() {
				dayScript.Eval(ctx, pipe, sh.all(), date, dayNum)
			}
			return nil
		})
	}
	if err != nil {
		return n, fmt.Errorf("rebuild the index of %s: %w", ix.prefix, err)
	}
	return n, nil
}

// clear deletes every key of the index: those of each shard.
func (ix *Index) clear(ctx context.Context) error {
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, sh := range ix.shards() {
			pipe.Unlink(ctx, sh.all()...)
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
// the day of its rebuild only. Shard n's record goes to shard n: both
// namespaces place a customer in the same shard.
func (ix *Index) CopyDays(ctx context.Context, from *Index, before time.Time) (int, error) {
	last := fmt.Sprint(before.UTC().Unix()/86400 - 1)
	src, dst := from.shards(), ix.shards()
	cmds := make([]*redis.ZSliceCmd, len(src))
	_, err := ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, sh := range src {
			cmds[i] = pipe.ZRangeByScoreWithScores(ctx, sh.days(), &redis.ZRangeBy{Min: "-inf", Max: last})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read the NES record of %s: %w", from.prefix, err)
	}
	dates := map[string]bool{}
	_, err = ix.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, sh := range dst {
			zs := cmds[i].Val()
			if len(zs) == 0 {
				continue
			}
			pipe.ZRemRangeByScore(ctx, sh.days(), "-inf", last)
			pipe.ZAdd(ctx, sh.days(), zs...)
			for _, z := range zs {
				date, _, _ := strings.Cut(fmt.Sprint(z.Member), "|")
				dates[date] = true
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("copy the NES record of %s into %s: %w", from.prefix, ix.prefix, err)
	}
	return len(dates), nil
}
