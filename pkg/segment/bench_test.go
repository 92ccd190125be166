package segment

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkToEvent maps a mobile library's Order Completed, with a timestamp
// and the batch's sentAt to correct it by, and reports its cost as a ratio to
// the baseline measured in the same run, as many times: decoding the same
// message with encoding/json into a map, the least any mapping of it does.
func BenchmarkToEvent(b *testing.B) {
	m := json.RawMessage(`{"type":"track","messageId":"m-1","anonymousId":"dev-1","userId":"u-1","event":"Order Completed",` +
		`"timestamp":"2024-05-01T10:59:58.500Z","context":{"library":{"name":"analytics-swift","version":"1.7.3"},"device":{"type":"ios"}},` +
		`"properties":{"order_id":"o-1","total":59.9,"currency":"USD","products":[{"product_id":"P-1","sku":"SKU-1","price":59.9,"quantity":1}]}}`)
	sentAt := time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC) // an hour slow
	b.ReportAllocs()
	t0 := time.Now()
	for range b.N {
		if _, err := ToEvent(m, sentAt, testOpts); err != nil {
			b.Fatal(err)
		}
	}
	mapping := time.Since(t0)
	b.StopTimer()
	t0 = time.Now()
	for range b.N {
		var v map[string]any
		if err := json.Unmarshal(m, &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mapping)/float64(time.Since(t0)), "x_json_decode")
}
