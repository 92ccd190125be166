package journey_test

import (
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/journey"
)

func TestTheDeployedJourneysLoad(t *testing.T) {
	camps, err := campaign.Load("../../deploy/campaigns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := journey.Load("../../deploy/journeys.yaml", camps)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Journeys) != 3 {
		t.Fatalf("%d journeys, want 3", len(cfg.Journeys))
	}
}

func TestInvalidJourneysAreRefusedNamingJourneyStepAndField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"a step without a kind", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a}]}`, `step "a": exactly one of`},
		{"a step of two kinds", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h, if: "true"}]}`, `step "a": exactly one of`},
		{"a next that is no step", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h, next: b}]}`, `step "a": next: "b" is not a step`},
		{"a step called end", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: end, wait: 1h}]}`, `name: "end" ends the journey`},
		{"an unknown entry type", `{name: j, entry: {on: [cart.added]}, steps: [{name: a, wait: 1h}]}`, `entry: on: "cart.added" is not an event type`},
		{"an if that is no bool", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, if: "profile.orders + 1"}]}`, `step "a": if: must be bool`},
		{"a send on an unknown channel", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, send: {channel: fax, action: {type: message}}}]}`, `step "a": send: channel: "fax"`},
		{"a send with a coupon nobody defined", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, send: {channel: email, coupon: gone, action: {type: coupon}}}]}`, `"gone" is not one of the coupons`},
		{"a wait_for without a timeout", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait_for: {on: [segflow.purchase.order_completed]}}]}`, `wait_for: timeout: missing`},
		{"a bad reentry", `{name: j, reentry: sometimes, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h}]}`, `reentry: "sometimes"`},
		{"a holdout above half", `{name: j, holdout: 0.7, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h}]}`, `holdout: 0.7`},
		{"two versions of a journey taking entries", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h}]}, {name: j, version: 2, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h}]}`, `retire all but one`},
		{"ifs that loop", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: w, wait: 1h}, {name: a, if: "true", then: b}, {name: b, split: [{name: x, weight: 1, next: a}]}]}`, `a → b → a branch back`},
		{"two journeys of one name and version", `{name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h}]}, {name: j, entry: {on: [segflow.cart.product_added]}, steps: [{name: a, wait: 1h}]}`, `used by an earlier journey`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := journey.Parse([]byte("journeys: ["+tc.yaml+"]"), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestAJourneyStepCannotBeDeclaredInTheCampaignsFile(t *testing.T) {
	_, err := campaign.Parse([]byte(`campaigns: [{name: x, kind: journey, channel: email, action: {type: message}}]`))
	if err == nil || !strings.Contains(err.Error(), "journeys file") {
		t.Fatalf("error %v, want a refusal", err)
	}
}
