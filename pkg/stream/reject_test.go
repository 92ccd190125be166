package stream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestErrorsAreClassedPermanentUnavailableOrNeither(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	rdb.Set(ctx, "s", "a string", 0)
	wrongType := rdb.HGet(ctx, "s", "f").Err()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	unreachable := down.Ping(ctx).Err()

	for _, c := range []struct {
		name                   string
		err                    error
		permanent, unavailable bool
	}{
		{"a rejection", fmt.Errorf("handle: %w", stream.Reject("no-customer", errors.New("no customer"))), true, false},
		{"redis refusing a command on a key of another type", fmt.Errorf("apply: %w", wrongType), true, false},
		{"redis out of reach", fmt.Errorf("apply: %w", unreachable), false, true},
		{"a deadline passed", fmt.Errorf("apply: %w", context.DeadlineExceeded), false, true},
		{"anything else", errors.New("something"), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error to class")
			}
			if _, p := stream.Permanent(c.err); p != c.permanent {
				t.Errorf("Permanent(%v) = %v, want %v", c.err, p, c.permanent)
			}
			if u := stream.Unavailable(c.err); u != c.unavailable {
				t.Errorf("Unavailable(%v) = %v, want %v", c.err, u, c.unavailable)
			}
		})
	}
}
