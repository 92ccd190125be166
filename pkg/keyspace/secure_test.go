package keyspace_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

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
			// Long enough to tell a refusal, which returns at once, from a
			// server that does not answer.
			tc.cfg.ProbeTimeout = time.Minute
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rdb, err := keyspace.Connect(ctx, tc.cfg)
			if err == nil {
				rdb.Close()
				t.Fatal("connected")
			}
			if errors.Is(err, keyspace.ErrUnreachable) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), r.Addr) {
				t.Errorf("%v, want the server's refusal, saying %q, of %s", err, tc.says, r.Addr)
			}
		})
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
