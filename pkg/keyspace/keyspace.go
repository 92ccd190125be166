// Package keyspace connects segflow to its Redis — one server or a Redis
// Cluster — and walks the whole keyspace, which on a cluster is split among
// the masters.
//
// Every command segflow sends names keys of one hash slot (a customer's
// {tag}, or a shared {#name}; see pkg/keys), so the cluster client routes it
// to the master that owns the slot. Only a key scan spans slots: Scan and
// ForEachMaster run it on every master.
package keyspace

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config says where Redis is and how to log in.
type Config struct {
	// Addrs are host:port of the server, or seed nodes of a cluster (any
	// masters or replicas; the client discovers the rest).
	Addrs []string
	// Username is the ACL user; empty is the default user.
	Username string
	// Password authenticates the user.
	Password string
	// TLS, if not nil, connects with TLS.
	TLS *tls.Config
	// Cluster uses the Redis Cluster client without asking. Otherwise the
	// cluster client is used when Addrs holds several addresses, or when the
	// server answers INFO with cluster_enabled:1.
	Cluster bool
	// ProbeTimeout bounds the wait for a server to answer the question
	// whether it is in cluster mode (it may be starting). Default 30s.
	ProbeTimeout time.Duration
}

// ErrUnreachable is returned by Connect when no address answered in time.
var ErrUnreachable = errors.New("redis unreachable")

// Connect returns the client of cfg: a cluster client if cfg.Cluster is set,
// if several addresses are given, or if the first one to answer says it runs
// in cluster mode; else a client of the one server. It returns once the
// server, or a node of the cluster, has answered the client, logged in as
// cfg says, waiting up to cfg.ProbeTimeout for one that does not answer yet;
// a refusal (credentials, certificates, a host that does not resolve)
// returns at once, saying why.
func Connect(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("no redis address")
	}
	cluster := cfg.Cluster || len(cfg.Addrs) > 1
	if !cluster {
		var err error
		if cluster, err = clusterEnabled(ctx, cfg); err != nil {
			return nil, err
		}
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		// A copy: the cluster client appends the nodes it finds to its
		// seeds, which would write into the caller's array.
		Addrs:         slices.Clone(cfg.Addrs),
		Username:      cfg.Username,
		Password:      cfg.Password,
		TLSConfig:     cfg.TLS,
		IsClusterMode: cluster,
	})
	if !cluster {
		return rdb, nil // clusterEnabled has had its answer
	}
	// The cluster client connects lazily: without this wait a refused login
	// would show only at the first command. Every master is asked, as
	// each has its own ACL users (a cluster does not share them) and may
	// refuse the user the others take.
	err := await(ctx, cfg, "redis cluster "+strings.Join(cfg.Addrs, ","), func(ctx context.Context) error {
		return rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			if err := c.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("master %s: %w", c.Options().Addr, err)
			}
			return nil
		})
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// clusterEnabled asks the server of cfg whether it runs in cluster mode,
// retrying until it answers or cfg.ProbeTimeout passes. A server that
// refuses the question (no INFO cluster section, as an embedded Redis) is
// taken for a single server.
func clusterEnabled(ctx context.Context, cfg Config) (bool, error) {
	c := redis.NewClient(&redis.Options{Addr: cfg.Addrs[0], Username: cfg.Username, Password: cfg.Password, TLSConfig: cfg.TLS, MaxRetries: -1})
	defer c.Close()
	var cluster bool
	err := await(ctx, cfg, "redis "+cfg.Addrs[0], func(ctx context.Context) error {
		info, err := c.Info(ctx, "cluster").Result()
		var rerr redis.Error
		if err != nil && !isAuthError(err) && errors.As(err, &rerr) {
			return nil // it answered, without a cluster section
		}
		cluster = strings.Contains(info, "cluster_enabled:1")
		return err
	})
	return cluster, err
}

// await calls try until it returns no error, or an error that waiting does
// not cure (a refused login or certificate, a host name that does not
// resolve), which it returns at once, or until cfg.ProbeTimeout passes
// (ErrUnreachable). Errors name what, the server or cluster asked.
func await(ctx context.Context, cfg Config, what string, try func(ctx context.Context) error) error {
	timeout := cfg.ProbeTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error // the last answer but the deadline's, to say why
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		if isAuthError(err) || isCertificateError(err) || isUnknownHost(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			if last == nil { // every try ran out of time: a dial says why
				last = err
				if conn, derr := net.DialTimeout("tcp", cfg.Addrs[0], time.Second); derr != nil {
					last = derr
				} else {
					conn.Close()
				}
			}
			return fmt.Errorf("%w: %s did not answer within %s: %v", ErrUnreachable, what, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// isUnknownHost tells whether err is a host name that does not resolve,
// which waiting does not cure.
func isUnknownHost(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

// isAuthError tells whether err is the server refusing the credentials,
// which waiting does not cure.
func isAuthError(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM", "ERR AUTH", "ERR invalid password"} {
		if strings.HasPrefix(strings.TrimPrefix(rerr.Error(), "redis: "), p) {
			return true
		}
	}
	return false
}

// isCertificateError tells whether err is a TLS handshake that failed on a
// certificate — the server's, that does not verify, or the client's, that
// the server refuses — which waiting does not cure either.
func isCertificateError(err error) bool {
	var (
		verify *tls.CertificateVerificationError
		op     *net.OpError
	)
	// A TLS alert from the server (certificate required, bad certificate)
	// comes as a net.OpError whose Op is "remote error".
	return errors.As(err, &verify) || errors.As(err, &op) && op.Op == "remote error"
}

// ForEachMaster runs fn at once on each master of a cluster client, or on
// rdb itself when it is the client of one server, and returns the first
// error.
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node redis.UniversalClient) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}

// Scan calls fn with the keys that match the SCAN pattern match, a page at a
// time, from every master. fn is called by one goroutine at a time. A key is
// passed twice if the keyspace changes during the scan in a way that makes
// SCAN return it twice.
func Scan(ctx context.Context, rdb redis.UniversalClient, match string, fn func(keys []string) error) error {
	var mu sync.Mutex
	return ForEachMaster(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", match, err)
			}
			if len(keys) > 0 {
				mu.Lock()
				err = fn(keys)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
}
