package event_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/schemas"
)

func TestTheSchemasStateTheMoneyBoundOfPackageMoney(t *testing.T) {
	b, err := schemas.FS.ReadFile("defs.json")
	if err != nil {
		t.Fatal(err)
	}
	var defs struct {
		Defs struct {
			Money struct {
				OneOf []struct {
					Type    string `json:"type"`
					Pattern string `json:"pattern"`
					Minimum *int64 `json:"minimum"`
					Maximum *int64 `json:"maximum"`
				} `json:"oneOf"`
			} `json:"money"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &defs); err != nil {
		t.Fatal(err)
	}
	for _, alt := range defs.Defs.Money.OneOf {
		switch alt.Type {
		case "integer":
			if alt.Minimum == nil || *alt.Minimum != 0 || alt.Maximum == nil || *alt.Maximum != money.MaxMinorUnits {
				t.Errorf("integer amounts from %v to %v, want 0 to money.MaxMinorUnits %d", alt.Minimum, alt.Maximum, money.MaxMinorUnits)
			}
		case "string":
			re := regexp.MustCompile(alt.Pattern)
			for s, want := range map[string]bool{
				money.MaxAmount.String(): true, "0": true, "0.000001": true,
				(money.MaxAmount + 1).String(): false, "-1": false, "-0.000001": false,
			} {
				if re.MatchString(s) != want {
					t.Errorf("pattern %s matches %q: %v, want %v", alt.Pattern, s, !want, want)
				}
			}
		default:
			t.Errorf("unexpected money alternative %q", alt.Type)
		}
	}

	// And the validator says so, naming the field and the bound.
	v, err := event.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	err = v.Validate(event.OrderCompleted, []byte(fmt.Sprintf(`{"user_id":"u","order_id":"o","currency":"USD","total":%q}`, (money.MaxAmount+1).String())))
	if err == nil || !regexp.MustCompile(`/data/total: must be an amount from 0 to 999999999\.999999`).MatchString(err.Error()) {
		t.Errorf("a total above the bound: %v, want the field and the bound named", err)
	}
}

func TestCheckTimeAcceptsTheEpochToTheSkewPastReceipt(t *testing.T) {
	received := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		t         time.Time
		maxFuture time.Duration
		ok        bool
	}{
		{"the epoch", event.MinTime, 0, true},
		{"a nanosecond before the epoch", event.MinTime.Add(-1), 0, false},
		{"the default skew past receipt", received.Add(event.DefaultMaxFuture), 0, true},
		{"a nanosecond past the default skew", received.Add(event.DefaultMaxFuture + 1), 0, false},
		{"a configured skew", received.Add(time.Hour), time.Hour, true},
		{"past a configured skew", received.Add(time.Hour + 1), time.Hour, false},
		{"a skew above the limit is the limit", received.Add(event.MaxFutureLimit + 1), 100 * event.MaxFutureLimit, false},
		{"the year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 0, false},
	}
	for _, tt := range tests {
		if err := event.CheckTime("time", tt.t, received, tt.maxFuture); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
