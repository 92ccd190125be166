package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// benchEnv is a store of n buyers with 1–4 orders over two years each.
func benchEnv(b *testing.B, n int) *env {
	e := start(b, nil, nil)
	r := rand.New(rand.NewPCG(9, 9))
	cats := []string{"dog", "cat", "fish", "bird"}
	for lo := 0; lo < n; lo += 1000 {
		var evs []cloudevents.Event
		for i := lo; i < min(lo+1000, n); i++ {
			c := fmt.Sprintf("cust-%06d", i)
			for range 1 + r.IntN(4) {
				evs = append(evs, e.order(c, T.Add(-day(r.IntN(700))), fmt.Sprintf("%d.%02d", 5+r.IntN(300), r.IntN(100)), cats[r.IntN(4)]))
			}
		}
		e.apply(b, evs...)
	}
	return e
}

// BenchmarkRead measures the read API's heaviest answers on 10,000 buyers
// (redis-server on the same machine): counts and audiences read and score
// the whole population per request.
func BenchmarkRead(b *testing.B) {
	e := benchEnv(b, 10_000)
	for _, path := range []string{
		"/v1/counts",
		"/v1/members?limit=100&q=" + url.QueryEscape("important_value AND bought:category:dog AND NOT S3"),
		"/v1/profiles/cust-000042",
		"/v1/metrics/clv?limit=100",
	} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				if status, body, _ := e.do(b, "GET", path, token, nil); status != 200 {
					b.Fatalf("%d %s", status, body)
				}
			}
		})
	}
}

// BenchmarkErase measures one erasure among 10,000 customers: it scans the
// keyspace for the customer's keys, so it grows with the database.
func BenchmarkErase(b *testing.B) {
	e := benchEnv(b, 10_000)
	keys, _ := e.rdb.DBSize(b.Context()).Result()
	b.Logf("%d keys in Redis", keys)
	i := 0
	for b.Loop() {
		if _, err := e.api.Erase(b.Context(), fmt.Sprintf("cust-%06d", i), "bench"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
