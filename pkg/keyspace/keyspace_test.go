package keyspace_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/testenv"
)

func TestConnectPicksTheClientTheServerNeeds(t *testing.T) {
	node, cluster := testenv.StartNode(t), testenv.StartCluster(t)
	if !node.Real {
		t.Skip("needs redis-server: miniredis has no cluster mode")
	}
	seeds := strings.Split(cluster.Addr, ",")
	for _, tc := range []struct {
		name        string
		cfg         keyspace.Config
		wantCluster bool
	}{
		{"one server not in cluster mode gets a client of that server", keyspace.Config{Addrs: []string{node.Addr}}, false},
		{"one seed of a cluster is detected as a cluster", keyspace.Config{Addrs: seeds[:1]}, true},
		{"several seeds are a cluster", keyspace.Config{Addrs: seeds}, true},
		{"--redis-cluster uses the cluster client without asking", keyspace.Config{Addrs: seeds[1:2], Cluster: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			rdb, err := keyspace.Connect(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			_, isCluster := rdb.(*redis.ClusterClient)
			if isCluster != tc.wantCluster {
				t.Fatalf("cluster client %v, want %v", isCluster, tc.wantCluster)
			}
			// Keys of many slots: on a cluster, most belong to another
			// master than the seed, which a single-server client would
			// see answered with MOVED.
			for i := range 30 {
				k := fmt.Sprintf("k:{c%d}", i)
				if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
					t.Fatalf("set %s: %v", k, err)
				}
				if got, err := rdb.Get(ctx, k).Int(); err != nil || got != i {
					t.Fatalf("get %s: %d %v", k, got, err)
				}
			}
		})
	}
}

func TestConnectGivesUpOnAnAddressThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = keyspace.Connect(context.Background(), keyspace.Config{Addrs: []string{addr}, ProbeTimeout: 300 * time.Millisecond})
	if !errors.Is(err, keyspace.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	// It says why: the refusal, not the deadline that ended the wait.
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("%v: want the address and why it did not answer", err)
	}
}

// Waiting for a server that is starting is right; waiting for a host name
// that does not resolve is not: it is refused at once, naming it.
func TestConnectRefusesAHostThatDoesNotResolveAtOnce(t *testing.T) {
	const addr = "no-such-host.invalid:6379" // .invalid never resolves (RFC 2606)
	if _, err := net.LookupHost("no-such-host.invalid"); !isNotFound(err) {
		t.Skipf("no name service to ask here: %v", err)
	}
	_, err := keyspace.Connect(context.Background(), keyspace.Config{Addrs: []string{addr}, ProbeTimeout: time.Hour})
	if err == nil || errors.Is(err, keyspace.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want an error naming %s", err, addr)
	}
}

func isNotFound(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

func TestScanFindsTheKeysOfEveryMaster(t *testing.T) {
	r := testenv.StartCluster(t)
	rdb := r.Client(t)
	ctx := context.Background()
	var want []string
	for i := range 100 {
		k := fmt.Sprintf("s:{c%d}", i)
		want = append(want, k)
		if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "other", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The keys are spread over every master, so a scan of one node would
	// miss some.
	var mu sync.Mutex
	holding := 0
	err := keyspace.ForEachMaster(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
		n, err := node.DBSize(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			holding++
		}
		return err
	})
	if err != nil || holding != 3 {
		t.Fatalf("%d of 3 masters hold keys (%v)", holding, err)
	}
	var got []string
	err = keyspace.Scan(ctx, rdb, "s:*", func(keys []string) error {
		got = append(got, keys...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("scan found %d keys, want %d", len(got), len(want))
	}
}
