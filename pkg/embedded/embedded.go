// Package embedded runs segflow's servers in-process for a laptop or a demo: a
// Kafka-protocol broker (kfake) and a Redis (miniredis). The services talk to
// them over TCP with the same clients they use in production, so embedded mode
// exercises the production code paths; only the servers are stand-ins.
//
// Embedded state lives in memory and is gone when the process exits.
package embedded

import (
	"fmt"
	"net"
	"strconv"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is an in-process Kafka-protocol broker.
type Kafka struct {
	c *kfake.Cluster
}

// StartKafka starts a one-broker cluster listening on addr (host:port; port 0
// picks a free one).
func StartKafka(addr string) (*Kafka, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka port %q: %w", port, err)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if p != 0 {
		opts = append(opts, kfake.Ports(p))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on %s: %w", addr, err)
	}
	return &Kafka{c: c}, nil
}

// Brokers returns the addresses clients connect to.
func (k *Kafka) Brokers() []string { return k.c.ListenAddrs() }

// Close stops the broker.
func (k *Kafka) Close() { k.c.Close() }

// Redis is an in-process Redis.
type Redis struct {
	m *miniredis.Miniredis
}

// StartRedis starts a Redis listening on addr (host:port; port 0 picks a free one).
func StartRedis(addr string) (*Redis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded redis on %s: %w", addr, err)
	}
	return &Redis{m: m}, nil
}

// Addr returns the address clients connect to.
func (r *Redis) Addr() string { return r.m.Addr() }

// Close stops the server.
func (r *Redis) Close() { r.m.Close() }
