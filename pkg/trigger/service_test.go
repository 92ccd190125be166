package trigger

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/journey"
)

func TestTheCampaignsFileIsReloadedWhenItChangesAndKeptWhenInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "campaigns.yaml")
	write := func(body string, at time.Time) { writeAt(t, path, body, at) }
	one := "campaigns:\n  - {name: a, kind: lifecycle, on: [segflow.cart.product_added], channel: email, action: {type: message}}\n"
	two := one + "  - {name: b, kind: lifecycle, on: [segflow.cart.product_added], channel: sms, action: {type: message}}\n"
	base := time.Now().Add(-time.Hour)
	write(one, base)
	cfg, err := campaign.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(cfg, nil, nil, nil)
	s, err := NewService(Config{Brokers: []string{"x"}, CampaignsFile: path}, e, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		s.checked = time.Time{} // do not wait for the next check
		s.reload()
	}
	check() // notes the file as loaded
	write(two, base.Add(time.Minute))
	check()
	if n := len(e.campaigns.Campaigns); n != 2 {
		t.Fatalf("%d campaigns after the file gained one, want 2", n)
	}
	write("campaigns:\n  - {name: c, kind: nonsense}\n", base.Add(2*time.Minute))
	check()
	if n := len(e.campaigns.Campaigns); n != 2 {
		t.Errorf("%d campaigns after an invalid edit, want the 2 that were running", n)
	}
}

// writeAt writes body to the file at path, modified at at.
func writeAt(t *testing.T, path, body string, at time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestTheJourneysFileIsReloadedWhenItChangesAndKeptWhenInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journeys.yaml")
	write := func(body string, at time.Time) { writeAt(t, path, body, at) }
	one := "journeys:\n  - {name: a, entry: {on: [segflow.cart.product_added]}, steps: [{name: w, wait: 1h}]}\n"
	two := one + "  - {name: b, entry: {on: [segflow.cart.product_added]}, steps: [{name: w, wait: 1h}]}\n"
	base := time.Now().Add(-time.Hour)
	write(one, base)
	cfg, err := journey.Load(path, &campaign.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(&campaign.Config{}, nil, nil, nil)
	e.SetJourneys(cfg)
	s, err := NewService(Config{Brokers: []string{"x"}, JourneysFile: path}, e, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		s.checked = time.Time{}
		s.reload()
	}
	check()
	write(two, base.Add(time.Minute))
	check()
	if n := len(e.journeys.Journeys); n != 2 {
		t.Fatalf("%d journeys after the file gained one, want 2", n)
	}
	write("journeys:\n  - {name: c, steps: []}\n", base.Add(2*time.Minute))
	check()
	if n := len(e.journeys.Journeys); n != 2 {
		t.Errorf("%d journeys after an invalid edit, want the 2 that were running", n)
	}
}
