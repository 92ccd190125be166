package trigger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/campaign"
	"github.com/segflow/segflow/pkg/event"
)

// Campaigns entered by time (birthday, habit) and by repeated views (browse
// abandon) need a little history of their own, kept per customer:
// tr:{c}:buys (zset of purchase times, newest 50) for habits, and tr:{c}:views
// (zset "<sku>|<ms>" -> ms, pruned to the longest view window) for browse
// abandon. Their waits are ordinary waits; the first cause of a time-entered
// wait names the campaign's occasion (the birthday's date, the habit's slot),
// so each occasion is decided once.

// timed schedules the time-entered campaigns an event makes due: a birthday
// from an identify's traits, a habit from the customer's purchases.
func (e *Engine) timed(ctx context.Context, T time.Time, customer string, ev cloudevents.Event, data map[string]any) error {
	var birthday, habit bool
	for _, c := range e.campaigns.Campaigns {
		birthday = birthday || c.Kind == campaign.KindBirthday
		habit = habit || c.Kind == campaign.KindHabit
	}
	if !(birthday && ev.Type() == event.Identify || habit && ev.Type() == event.OrderCompleted) {
		return nil
	}
	traits, _ := data["traits"].(map[string]any)
	tz, _ := traits["timezone"].(string)
	if tz == "" {
		ps, err := e.profiles.Get(ctx, T, []string{customer})
		if err != nil {
			return err
		}
		tz, _ = ps[0].Traits["timezone"].(string)
	}
	loc := e.campaigns.Location(tz)
	var buys []time.Time
	if ev.Type() == event.OrderCompleted {
		key := buysKey(customer)
		ms := ev.Time().UnixMilli()
		pipe := e.rdb.Pipeline()
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(ms), Member: strconv.FormatInt(ms, 10)})
		pipe.ZRemRangeByRank(ctx, key, 0, -51)
		all := pipe.ZRange(ctx, key, 0, -1)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("record purchase time: %w", err)
		}
		for _, s := range all.Val() {
			n, _ := strconv.ParseInt(s, 10, 64)
			buys = append(buys, time.UnixMilli(n))
		}
	}
	for i := range e.campaigns.Campaigns {
		c := &e.campaigns.Campaigns[i]
		occasion := map[string]any{"timezone": tz}
		switch {
		case c.Kind == campaign.KindBirthday && ev.Type() == event.Identify:
			b, _ := traits["birthday"].(string)
			if b == "" {
				continue
			}
			occasion["birthday"] = b
		case c.Kind == campaign.KindHabit && ev.Type() == event.OrderCompleted:
			wd, hour, ok := campaign.Habit(buys, loc)
			if !ok {
				continue
			}
			occasion["weekday"], occasion["hour"] = float64(wd), float64(hour)
		default:
			continue
		}
		if err := e.next(ctx, c, customer, occasion, T, ev.ID()); err != nil {
			return err
		}
	}
	return nil
}

// next schedules the next occasion of a time-entered campaign after T: the
// next birthday, or the next usual weekday and hour less the lead.
func (e *Engine) next(ctx context.Context, c *campaign.Campaign, customer string, occasion map[string]any, T time.Time, cause string) error {
	tz, _ := occasion["timezone"].(string)
	loc := e.campaigns.Location(tz)
	var due time.Time
	var name string
	if b, ok := occasion["birthday"].(string); ok {
		next, err := campaign.NextBirthday(b, loc, T)
		if err != nil {
			return nil // the schema admits it; a date such as --02-30 never comes
		}
		due, name = next, "birthday:"+next.In(loc).Format("2006-01-02")
	} else {
		wd, _ := occasion["weekday"].(float64)
		hour, _ := occasion["hour"].(float64)
		due = campaign.NextHabit(time.Weekday(wd), int(hour), time.Duration(c.Lead), loc, T)
		name = "habit:" + due.UTC().Format(time.RFC3339)
	}
	w := wait{Start: T, Due: due, First: c.Name + "|" + name, Causes: []string{cause},
		Event: map[string]any{"type": campaign.DueEvent, "time": due, "data": occasion}}
	return e.schedule(ctx, &campaign.Campaign{Name: c.Name, Restart: true}, customer, w)
}

// viewed records a product view and reports how often the customer viewed
// the product, as view times, for browse-abandon campaigns.
func (e *Engine) viewed(ctx context.Context, customer string, ev cloudevents.Event, data map[string]any) ([]time.Time, error) {
	product, _ := data["product"].(map[string]any)
	sku, _ := product["sku"].(string)
	if sku == "" {
		return nil, nil
	}
	var window time.Duration
	for _, c := range e.campaigns.Campaigns {
		if c.Kind == campaign.KindBrowseAbandon {
			window = max(window, time.Duration(c.Window))
		}
	}
	if window == 0 {
		return nil, nil
	}
	key := viewsKey(customer)
	ms := ev.Time().UnixMilli()
	pipe := e.rdb.Pipeline()
	pipe.ZAdd(ctx, key, redis.Z{Score: float64(ms), Member: sku + "|" + strconv.FormatInt(ms, 10)})
	pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(ms-window.Milliseconds(), 10))
	all := pipe.ZRange(ctx, key, 0, -1)
	pipe.Expire(ctx, key, window)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("record view: %w", err)
	}
	var times []time.Time
	for _, m := range all.Val() {
		s, t, _ := strings.Cut(m, "|")
		if s != sku {
			continue
		}
		n, _ := strconv.ParseInt(t, 10, 64)
		times = append(times, time.UnixMilli(n))
	}
	return times, nil
}
