package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/coupon"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/keyspace"
	"github.com/segflow/segflow/pkg/money"
)

// Attribution: a customer triggered by a campaign, or held out of it, is
// exposed to it; a purchase within the campaign's attribution window after
// the exposure is a conversion of that exposure's variant and group (treated
// or holdout). Per campaign, variant and group the service counts decisions,
// conversions and revenue, so the treated conversion rate can be compared
// with the holdout's (lift).
//
// Keys: tr:{c}:exposed (hash campaign -> "<ms>|<variant>|<outcome>", the
// latest exposure), tr:{c}:converted (set of "<campaign>|<order id>"), and
// tr:{#stats:<campaign>} (hash "<variant>|<group>|decided|converted|revenue|revenue_hi"
// -> count, or revenue in micros: revenue_hi × 10^9 + revenue, reported
// capped at money.MaxSum). A conversion is counted once per order:
// the set is written first, so a crash between the two writes loses that
// conversion's count rather than counting it twice.

// Groups of exposed customers.
const (
	Treated = "treated"
	Held    = "holdout"
)

// expose records an exposure and counts its decision, in pipe.
func expose(ctx context.Context, pipe redis.Pipeliner, campaign, customer, variant, outcome string, T time.Time) {
	group := Treated
	if outcome == Holdout {
		group = Held
		variant = ""
	}
	pipe.HSet(ctx, exposedKey(customer), campaign, fmt.Sprintf("%d|%s|%s", T.UnixMilli(), variant, group))
	pipe.HIncrBy(ctx, statsKey(campaign), variant+"|"+group+"|decided", 1)
}

// convert attributes an order to the campaigns the customer was exposed to
// within their attribution windows.
func (e *Engine) convert(ctx context.Context, customer, orderID string, at time.Time, data map[string]any) error {
	exposed, err := e.rdb.HGetAll(ctx, exposedKey(customer)).Result()
	if err != nil {
		return fmt.Errorf("read exposures: %w", err)
	}
	if len(exposed) == 0 {
		return nil
	}
	revenue := orderTotal(data)
	for name, v := range exposed {
		window, ok := e.attribution(name)
		parts := strings.SplitN(v, "|", 3)
		if !ok || len(parts) != 3 {
			continue
		}
		ms, _ := strconv.ParseInt(parts[0], 10, 64)
		from := time.UnixMilli(ms)
		if at.Before(from) || at.After(from.Add(window)) {
			continue
		}
		added, err := e.rdb.SAdd(ctx, convertedKey(customer), name+"|"+orderID).Result()
		if err != nil {
			return fmt.Errorf("record conversion: %w", err)
		}
		if added == 0 {
			continue
		}
		prefix := parts[1] + "|" + parts[2] + "|"
		pipe := e.rdb.Pipeline()
		pipe.HIncrBy(ctx, statsKey(name), prefix+"converted", 1)
		// Revenue in two fields, so that no number of orders overflows it.
		hi, lo := money.Limbs(revenue)
		pipe.HIncrBy(ctx, statsKey(name), prefix+"revenue", lo)
		pipe.HIncrBy(ctx, statsKey(name), prefix+"revenue_hi", hi)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("count conversion: %w", err)
		}
	}
	return nil
}

// orderTotal is an order's total; 0 when it is not an amount (the
// profile-updater dead-letters the order, but it still converts).
func orderTotal(data map[string]any) money.Micros {
	total, _ := json.Marshal(data["total"])
	cur, _ := data["currency"].(string)
	revenue, err := money.Parse(total, cur)
	if err != nil {
		return 0
	}
	return revenue
}

// Result is a campaign's outcome for one variant and group.
type Result struct {
	Variant   string `json:"variant,omitempty"`
	Group     string `json:"group"`
	Decided   int64  `json:"decided"`
	Converted int64  `json:"converted"`
	Revenue   int64  `json:"revenue_micros"`
	// Coupons are the codes the variant's triggers carried, if it has a coupon.
	Coupons *coupon.Result `json:"-"`
}

// Rate is the conversion rate.
func (r Result) Rate() float64 {
	if r.Decided == 0 {
		return 0
	}
	return float64(r.Converted) / float64(r.Decided)
}

// Campaigns returns the names of the campaigns that have results, sorted,
// from every master of a cluster.
func Campaigns(ctx context.Context, rdb redis.UniversalClient) ([]string, error) {
	var out []string
	err := keyspace.Scan(ctx, rdb, statsPattern, func(found []string) error {
		for _, k := range found {
			// Journeys' entries, steps and arms are reported as journeys.
			if name, ok := statsCampaign(k); ok && !strings.HasPrefix(name, journey.CampaignPrefix) {
				out = append(out, name)
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("list campaigns: %w", err)
	}
	slices.Sort(out)
	return slices.Compact(out), err
}

// Results returns a campaign's results by variant and group.
func (e *Engine) Results(ctx context.Context, campaign string) ([]Result, error) {
	h, err := e.rdb.HGetAll(ctx, statsKey(campaign)).Result()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("read results of %s: %w", campaign, err)
	}
	by := map[string]*Result{}
	revenue := map[*Result][2]int64{} // hi, lo
	for k, v := range h {
		parts := strings.Split(k, "|")
		if len(parts) != 3 {
			continue
		}
		r := by[parts[0]+"|"+parts[1]]
		if r == nil {
			r = &Result{Variant: parts[0], Group: parts[1]}
			by[parts[0]+"|"+parts[1]] = r
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch parts[2] {
		case "decided":
			r.Decided = n
		case "converted":
			r.Converted = n
		case "revenue_hi":
			rv := revenue[r]
			rv[0] = n
			revenue[r] = rv
		case "revenue":
			rv := revenue[r]
			rv[1] = n
			revenue[r] = rv
		}
	}
	out := make([]Result, 0, len(by))
	for _, r := range by {
		rv := revenue[r]
		r.Revenue = int64(money.JoinLimbs(rv[0], rv[1]).Cap())
		out = append(out, *r)
	}
	coupons, err := e.coupons.Results(ctx, campaign)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if r, ok := coupons[out[i].Variant]; ok && out[i].Group == Treated {
			out[i].Coupons = &r
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group+out[i].Variant < out[j].Group+out[j].Variant })
	return out, nil
}
