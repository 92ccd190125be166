package collector_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/collector"
	"github.com/segflow/segflow/pkg/event"
)

// libraryRecording is a file of testdata/libraries (see its README).
type libraryRecording struct {
	Library  string `json:"library"`
	Requests []struct {
		ReceivedAt time.Time         `json:"receivedAt"`
		Path       string            `json:"path"`
		Headers    map[string]string `json:"headers"`
		Gzip       bool              `json:"gzip"`
		Body       json.RawMessage   `json:"body"`
	} `json:"requests"`
	Expect []struct {
		MessageID string    `json:"messageId"`
		Type      string    `json:"type"`
		Key       string    `json:"key"`
		Time      time.Time `json:"time"`
		Channel   string    `json:"channel"`
	} `json:"expect"`
}

const appKey = "wk_app_secret"

func TestEverySegmentLibrarysRequestsLandOnceWithTheirTypeKeyTimeAndChannel(t *testing.T) {
	files, err := filepath.Glob("testdata/libraries/*.json")
	if err != nil || len(files) < 5 {
		t.Fatalf("recordings: %v %v", files, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var rec libraryRecording
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			clk := &clock{}
			e := start(t, func(c *collector.Config) {
				// The app's source names no channel: a mobile library's
				// events must be told apart by what they carry.
				c.WriteKeys[appKey] = collector.Source{Name: "app"}
				c.Now = clk.Now
			})
			for i, r := range rec.Requests {
				clk.set(r.ReceivedAt)
				body := string(r.Body)
				var s string
				if json.Unmarshal(r.Body, &s) == nil {
					body = s // sent as the library writes it
				}
				code, a, _ := e.post(t, request{path: r.Path, body: body, headers: r.Headers, gzip: r.Gzip})
				if code != 200 || len(a.Rejected) != 0 {
					t.Fatalf("request %d to %s: %d %+v", i, r.Path, code, a)
				}
			}
			got := e.byID(t, len(rec.Expect), append(event.Topics, event.TopicInvalid)...)
			for _, want := range rec.Expect {
				ms := got[want.MessageID]
				if len(ms) != 1 {
					t.Errorf("%s: %d messages, want 1", want.MessageID, len(ms))
					continue
				}
				m := ms[0]
				evTime, _ := time.Parse(time.RFC3339Nano, header(m, "ce_time"))
				if header(m, "ce_type") != want.Type || string(m.Key) != want.Key || !evTime.Equal(want.Time) || header(m, "ce_channel") != want.Channel {
					t.Errorf("%s: type %s key %s time %s channel %s, want %s %s %s %s", want.MessageID,
						header(m, "ce_type"), m.Key, header(m, "ce_time"), header(m, "ce_channel"),
						want.Type, want.Key, want.Time.Format(time.RFC3339Nano), want.Channel)
				}
			}
		})
	}
}

func TestAPostToAnUnknownPathIsNotFoundWithCORSHeadersAndCounted(t *testing.T) {
	e := start(t)
	for _, path := range []string{"/v1/x", "/v1/tracks", "/v1/t/extra"} {
		req := request{path: path, ctype: "text/plain", headers: map[string]string{"Origin": "https://shop.example"},
			body: `{"writeKey":"` + webKey + `","type":"track","messageId":"u-1","anonymousId":"v","event":"Cart Viewed"}`}
		code, a, h := e.post(t, req)
		if code != 404 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(a.Error, path) {
			t.Errorf("%s: %d allow-origin %q error %q, want 404 with CORS naming the path", path, code, h.Get("Access-Control-Allow-Origin"), a.Error)
		}
	}
	if n := metricSum(t, e.reg, "segflow_collector_unknown_path_total"); n != 3 {
		t.Errorf("unknown path metric %v, want 3", n)
	}
	e.byID(t, 0, append(event.Topics, event.TopicInvalid)...)
}
