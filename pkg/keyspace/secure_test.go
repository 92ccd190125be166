package keyspace_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/testenv"
)

// secureRedis starts a redis-server that takes TLS connections only and
// whose default user is off: a client logs in as segflow, password right.
func secureRedis(t *testing.T) (*testenv.Redis, *testenv.CA) {
	ca := testenv.NewCA(t)
	r := testenv.StartSecureNode(t, testenv.RedisSecurity{CA: ca, Users: []string{
		"default off",
		"segflow on >right ~* &* +@all",
	}})
	return r, ca
}

func TestConnectLogsInAsAnACLUserOverTLS(t *testing.T) {
	r, ca := secureRedis(t)
	ctx := context.Background()
	withCert := ca.ClientTLS()
	withCert.Certificates = []tls.Certificate{ca.Issue(t, "segflow").TLS}
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"trusting the server's CA", ca.ClientTLS()},
		{"showing a client certificate", withCert},
		{"naming the server's host", &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := keyspace.Connect(ctx, keyspace.Config{Addrs: []string{r.Addr}, Username: "segflow", Password: "right", TLS: tc.tls})
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatalf("set: %v", err)
			}
			who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text()
			if err != nil || who != "segflow" {
				t.Errorf("ACL WHOAMI: %q %v, want segflow", who, err)
			}
		})
	}
}

func TestConnectFailsAtOnceAndSaysWhyWhenTheServerRefusesTheClient(t *testing.T) {
	r, ca := secureRedis(t)
	other := testenv.NewCA(t)
	for _, tc := range []struct {
		name string
		cfg  keyspace.Config
		says string
	}{
		{"a wrong password", keyspace.Config{Username: "segflow", Password: "wrong", TLS: ca.ClientTLS()}, "WRONGPASS"},
		{"no user, when the default user is off", keyspace.Config{TLS: ca.ClientTLS()}, "NOAUTH"},
		{"a server certificate of a CA the client does not trust", keyspace.Config{Username: "segflow", Password: "right", TLS: other.ClientTLS()}, "certificate signed by unknown authority"},
		{"a server certificate of another host name", keyspace.Config{Username: "segflow", Password: "right", TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "redis.example.com"}}, "not redis.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Addrs = []string{r.Addr}
			refused(t, tc.cfg, tc.says)
		})
	}
}

// refused checks that Connect with cfg fails at once with the servers'
// refusal, saying says and naming the first address of cfg.
func refused(t *testing.T, cfg keyspace.Config, says string) {
	t.Helper()
	// Long enough to tell a refusal, which returns at once, from servers
	// that do not answer.
	cfg.ProbeTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb, err := keyspace.Connect(ctx, cfg)
	if err == nil {
		rdb.Close()
		t.Fatal("connected")
	}
	if errors.Is(err, keyspace.ErrUnreachable) || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), cfg.Addrs[0]) {
		t.Errorf("%v, want the refusal, saying %q, of %s", err, says, cfg.Addrs[0])
	}
}

func TestConnectWithoutAClientCertificateTheServerRequiresFailsAtOnce(t *testing.T) {
	ca := testenv.NewCA(t)
	r := testenv.StartSecureNode(t, testenv.RedisSecurity{CA: ca, ClientCerts: true})
	_, err := keyspace.Connect(context.Background(), keyspace.Config{Addrs: []string{r.Addr}, TLS: ca.ClientTLS(), ProbeTimeout: time.Minute})
	if err == nil || errors.Is(err, keyspace.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("%v, want the server's refusal of a client without a certificate", err)
	}
	withCert := ca.ClientTLS()
	withCert.Certificates = []tls.Certificate{ca.Issue(t, "segflow").TLS}
	rdb, err := keyspace.Connect(context.Background(), keyspace.Config{Addrs: []string{r.Addr}, TLS: withCert})
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	rdb.Close()
}

func TestConnectWithoutTLSToATLSServerSaysItDidNotAnswer(t *testing.T) {
	r, _ := secureRedis(t)
	_, err := keyspace.Connect(context.Background(), keyspace.Config{Addrs: []string{r.Addr}, Username: "segflow", Password: "right", ProbeTimeout: time.Second})
	if !errors.Is(err, keyspace.ErrUnreachable) {
		t.Errorf("%v, want %v", err, keyspace.ErrUnreachable)
	}
}

// secureCluster starts a 3-master Redis Cluster whose nodes take TLS
// connections with a client certificate only, speak TLS on the cluster bus,
// and whose default user is off: a client logs in as segflow, password
// right. It returns the masters' addresses and a client TLS configuration
// the nodes take.
func secureCluster(t *testing.T) ([]string, *testenv.CA, *tls.Config) {
	ca := testenv.NewCA(t)
	r := testenv.StartSecureCluster(t, testenv.RedisSecurity{CA: ca, ClientCerts: true, Users: []string{
		"default off",
		"segflow on >right ~* &* +@all",
	}})
	withCert := ca.ClientTLS()
	withCert.Certificates = []tls.Certificate{ca.Issue(t, "segflow").TLS}
	return strings.Split(r.Addr, ","), ca, withCert
}

func TestConnectLogsInToEveryMasterOfATLSClusterAsAnACLUser(t *testing.T) {
	seeds, _, withCert := secureCluster(t)
	masters := slices.Sorted(slices.Values(seeds))
	named := withCert.Clone()
	named.ServerName = "localhost"
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  keyspace.Config
	}{
		{"--redis-cluster with one seed", keyspace.Config{Addrs: seeds[1:2], Cluster: true, TLS: withCert}},
		{"several seeds", keyspace.Config{Addrs: seeds, TLS: withCert}},
		{"one seed, asked whether it is a cluster over TLS", keyspace.Config{Addrs: seeds[2:], TLS: withCert}},
		// Every node's certificate is checked against the name given, not
		// against the address the cluster announces.
		{"a server name every node's certificate has", keyspace.Config{Addrs: seeds[:1], Cluster: true, TLS: named}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Username, tc.cfg.Password = "segflow", "right"
			rdb, err := keyspace.Connect(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if _, ok := rdb.(*redis.ClusterClient); !ok {
				t.Fatalf("%T, want a cluster client", rdb)
			}
			// Keys of many slots, so that each master owns some.
			const n = 60
			for i := range n {
				k := fmt.Sprintf("tls:{c%d}", i)
				if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
					t.Fatalf("set %s: %v", k, err)
				}
			}
			// The client reached every master at the TLS port the cluster
			// announces, logged in as segflow.
			var mu sync.Mutex
			var reached []string
			err = keyspace.ForEachMaster(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
				who, err := node.Do(ctx, "ACL", "WHOAMI").Text()
				if err != nil || who != "segflow" {
					return fmt.Errorf("ACL WHOAMI: %q %v, want segflow", who, err)
				}
				mu.Lock()
				defer mu.Unlock()
				reached = append(reached, node.(*redis.Client).Options().Addr)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(reached)
			if !slices.Equal(reached, masters) {
				t.Errorf("the client reached masters %v, want %v", reached, masters)
			}
			// The cluster client adds the nodes it finds to its seeds: into
			// a copy, not into the array the caller's addresses live in.
			if !slices.Equal(slices.Sorted(slices.Values(seeds)), masters) {
				t.Errorf("Connect changed the addresses it was given to %v", seeds)
			}
			// Each master, asked on its own, holds the keys whose slots it
			// serves, and some of them.
			held := 0
			for _, addr := range seeds {
				node := redis.NewClient(&redis.Options{Addr: addr, Username: "segflow", Password: "right", TLSConfig: withCert})
				defer node.Close()
				keys, err := node.Keys(ctx, "tls:*").Result()
				if err != nil {
					t.Fatalf("keys of %s: %v", addr, err)
				}
				if len(keys) == 0 {
					t.Errorf("master %s holds none of the %d keys", addr, n)
				}
				for _, k := range keys {
					slot, err := node.ClusterKeySlot(ctx, k).Result()
					if err != nil || !servesSlot(t, node, addr, slot) {
						t.Errorf("master %s holds %s of slot %d, which it does not serve (%v)", addr, k, slot, err)
					}
				}
				held += len(keys)
			}
			if held != n {
				t.Errorf("the masters hold %d keys, want %d", held, n)
			}
			if err := keyspace.ForEachMaster(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
				return node.FlushAll(ctx).Err()
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// servesSlot tells whether the master at addr serves slot, as node's
// CLUSTER SHARDS says.
func servesSlot(t *testing.T, node *redis.Client, addr string, slot int64) bool {
	t.Helper()
	shards, err := node.ClusterShards(context.Background()).Result()
	if err != nil {
		t.Fatalf("cluster shards: %v", err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" && net.JoinHostPort(n.IP, strconv.FormatInt(n.TLSPort, 10)) == addr {
					return true
				}
			}
		}
	}
	return false
}

func TestConnectToATLSClusterFailsAtOnceAndSaysWhyWhenItRefusesTheClient(t *testing.T) {
	seeds, ca, withCert := secureCluster(t)
	other := testenv.NewCA(t)
	otherCert := other.ClientTLS()
	otherCert.Certificates = []tls.Certificate{other.Issue(t, "segflow").TLS}
	otherName := withCert.Clone()
	otherName.ServerName = "redis.example.com"
	for _, tc := range []struct {
		name string
		cfg  keyspace.Config
		says string
	}{
		{"a wrong password", keyspace.Config{Username: "segflow", Password: "wrong", TLS: withCert}, "WRONGPASS"},
		{"no user, when the default user is off", keyspace.Config{TLS: withCert}, "NOAUTH"},
		{"no client certificate", keyspace.Config{Username: "segflow", Password: "right", TLS: ca.ClientTLS()}, "certificate"},
		{"a server certificate of a CA the client does not trust", keyspace.Config{Username: "segflow", Password: "right", TLS: otherCert}, "certificate signed by unknown authority"},
		{"server certificates of another host name", keyspace.Config{Username: "segflow", Password: "right", TLS: otherName}, "not redis.example.com"},
	} {
		for _, seeds := range [][]string{seeds[:1], seeds} {
			t.Run(fmt.Sprintf("%s, --redis-cluster with %d seeds", tc.name, len(seeds)), func(t *testing.T) {
				tc.cfg.Addrs, tc.cfg.Cluster = seeds, true
				refused(t, tc.cfg, tc.says)
			})
		}
	}
}

// A cluster does not share its ACL users: each master has its own, and one
// may refuse the user the others take. Connect asks every master, not only
// the seed it is given.
func TestConnectToAClusterFailsAtOnceWhenOneMasterRefusesTheUserTheOthersTake(t *testing.T) {
	seeds, _, withCert := secureCluster(t)
	ctx := context.Background()
	for i, addr := range seeds {
		password := ">right"
		if i == len(seeds)-1 {
			password = ">other"
		}
		node := redis.NewClient(&redis.Options{Addr: addr, Username: "segflow", Password: "right", TLSConfig: withCert})
		defer node.Close()
		if err := node.Do(ctx, "ACL", "SETUSER", "app", "on", password, "~*", "&*", "+@all").Err(); err != nil {
			t.Fatalf("set user app on %s: %v", addr, err)
		}
	}
	refused(t, keyspace.Config{Addrs: seeds[:1], Cluster: true, Username: "app", Password: "right", TLS: withCert}, "master "+seeds[len(seeds)-1]+": WRONGPASS")
}
