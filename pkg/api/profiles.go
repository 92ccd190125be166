package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/money"
	"github.com/segflow/segflow/pkg/points"
	"github.com/segflow/segflow/pkg/privacy"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
	"github.com/segflow/segflow/pkg/trigger"
	"github.com/segflow/segflow/pkg/view"
)

// ProfileView is a customer's profile as the API shows it. Money is a decimal
// string in the store currency.
type ProfileView struct {
	Customer string    `json:"customer"`
	At       time.Time `json:"at"`
	RFM      RFMView   `json:"rfm"`
	Stage    string    `json:"stage"`
	Cycle    float64   `json:"cycle_days"`
	Tier     string    `json:"tier,omitempty"`
	Tags     []string  `json:"tags"`
	// Waterfall is the customer's waterfall segment; absent without a
	// waterfall.
	Waterfall string          `json:"waterfall,omitempty"`
	Consent   map[string]bool `json:"consent"`
	Traits    map[string]any  `json:"traits"`
	CLV       CLVView         `json:"clv"`
	Activity  ActivityView    `json:"activity"`
	// Points is the customer's points balance (pkg/points) at At.
	Points points.Balance `json:"points"`
	// Predicted is absent without a fitted model or purchases.
	Predicted *PredictedView `json:"predicted,omitempty"`
}

// PredictedView is what the fitted model says of a customer at the profile's
// time: P(alive), expected purchases in the next 90 and 365 days, the
// predicted CLV over the next year (discounted, in the store currency), when
// one more order is expected (absent if not within 3 years), when P(alive)
// falls below the at-risk threshold if they buy nothing more (absent if
// never), and the version of the model's parameters.
type PredictedView struct {
	PAlive            float64    `json:"p_alive"`
	Purchases90d      float64    `json:"purchases_90d"`
	Purchases365d     float64    `json:"purchases_365d"`
	CLV365d           string     `json:"clv_365d"`
	ExpectedNextOrder *time.Time `json:"expected_next_order,omitempty"`
	AtRiskAt          *time.Time `json:"at_risk_at,omitempty"`
	Model             string     `json:"model"`
}

func predictedView(p *profile.Predicted, currency string) *PredictedView {
	if p == nil {
		return nil
	}
	return &PredictedView{
		PAlive: p.PAlive, Purchases90d: p.Purchases90, Purchases365d: p.Purchases,
		CLV365d:           money.Format(p.CLVMicros, currency),
		ExpectedNextOrder: timePtr(p.NextOrder), AtRiskAt: timePtr(p.AtRisk), Model: p.Model,
	}
}

// RFMView is a profile's RFM values, scores and segment; scores are 0 and the
// segment empty for a customer who is not a buyer.
type RFMView struct {
	R       int    `json:"r"`
	F       int    `json:"f"`
	M       string `json:"m"`
	RScore  int    `json:"r_score"`
	FScore  int    `json:"f_score"`
	MScore  int    `json:"m_score"`
	Segment string `json:"segment,omitempty"`
}

// CLVView is a customer's value: historical is the lifetime spend, orders
// minus refunds, ever.
type CLVView struct {
	Historical string `json:"historical"`
	Currency   string `json:"currency"`
}

// ActivityView summarises recent activity.
type ActivityView struct {
	Orders        int        `json:"orders"`
	FirstPurchase *time.Time `json:"first_purchase,omitempty"`
	LastPurchase  *time.Time `json:"last_purchase,omitempty"`
	LastCart      *time.Time `json:"last_cart,omitempty"`
	CartItems     int        `json:"cart_items"`
	CartValue     string     `json:"cart_value"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) error {
	c := r.PathValue("id")
	v, ns, err := s.view(r.Context())
	if err != nil {
		return err
	}
	ok, err := ns.store.Exists(r.Context(), c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("profile: %w", errNotFound)
	}
	T := s.cfg.Now()
	// Scored against the view the audiences are read from, so a profile
	// and the audiences agree at the same instant.
	ps, err := ns.store.GetAgainst(r.Context(), T, []string{c}, v)
	if err != nil {
		return fmt.Errorf("read profile: %w", err)
	}
	p, cur := ps[0], ns.store.Currency()
	bal, err := points.NewStore(s.rdb).Balance(r.Context(), c, T)
	if err != nil {
		return err
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusOK, ProfileView{
		Customer: c, At: T,
		RFM: RFMView{R: p.Values.R, F: p.Values.F, M: money.Format(money.Micros(p.Values.M), cur),
			RScore: p.RScore, FScore: p.FScore, MScore: p.MScore, Segment: p.Segment},
		Stage: string(p.Stage), Cycle: p.Cycle.Hours() / 24, Tier: p.Tier, Tags: tags, Waterfall: p.Waterfall,
		Consent: p.Consent, Traits: p.Traits,
		CLV: CLVView{Historical: money.Format(money.Micros(p.Lifetime), cur), Currency: cur},
		Activity: ActivityView{
			Orders: p.Orders, FirstPurchase: timePtr(p.First), LastPurchase: timePtr(p.Last), LastCart: timePtr(p.LastCart),
			CartItems: p.CartItems, CartValue: money.Format(money.Micros(p.CartValue), cur),
		},
		Predicted: predictedView(p.Predicted, cur),
		Points:    bal,
	})
	return nil
}

// Erasure is the answer to an erasure.
type Erasure struct {
	CustomerHash string    `json:"customer_hash"`
	ErasedAt     time.Time `json:"erased_at"`
	Profiles     int       `json:"profiles"`
	Keys         int       `json:"keys"`
}

func (s *Server) deleteProfile(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Erase(r.Context(), r.PathValue("id"), requester(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// Erase erases a customer everywhere segflow keeps them, as requested by
// requester. The erasure is recorded first, so that the profile-updater and
// the indexer drop the customer's events that arrive meanwhile or later (up to
// the erasure time); then the profile (with the anonymous profiles merged into
// it), the population entries and timers, in every profile namespace, the
// trigger state and index entries are removed; then the audit log gets the hashed id. Erasing again is harmless.
func (s *Server) Erase(ctx context.Context, customer, requester string) (Erasure, error) {
	// A real erasure happens now, even when the pipeline's clock is set.
	at := time.Now().UTC().Truncate(time.Millisecond)
	if now := s.cfg.Now(); now.After(at) {
		at = now.UTC().Truncate(time.Millisecond)
	}
	out := Erasure{CustomerHash: privacy.Hash(customer), ErasedAt: at}
	if err := s.erased.Record(ctx, customer, at); err != nil {
		return out, err
	}
	// In every namespace: the live one, the one it was switched from, and
	// those a replay is building.
	namespaces, err := profile.Namespaces(ctx, s.rdb, s.store.Prefix())
	if err != nil {
		return out, err
	}
	var gone profile.Erased
	for _, ns := range namespaces {
		g, err := s.store.In(ns).Erase(ctx, customer)
		if err != nil {
			return out, err
		}
		for _, c := range g.Customers {
			if !slices.Contains(gone.Customers, c) {
				gone.Customers = append(gone.Customers, c)
			}
		}
		gone.Keys += g.Keys
	}
	out.Profiles, out.Keys = len(gone.Customers), gone.Keys
	for _, c := range gone.Customers {
		if c != customer {
			if err := s.erased.Record(ctx, c, at); err != nil {
				return out, err
			}
		}
		n, err := trigger.Erase(ctx, s.rdb, c)
		if err != nil {
			return out, err
		}
		out.Keys += n
	}
	for _, ns := range namespaces {
		if err := s.index.In(ns).Erase(ctx, gone.Customers...); err != nil {
			return out, err
		}
	}
	if err := s.announceGone(ctx, namespaces, gone.Customers); err != nil {
		return out, err
	}
	err = s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: AuditKey, Values: []any{
		"customer_hash", out.CustomerHash, "at", at.UnixMilli(), "requester", requester, "profiles", out.Profiles,
	}}).Err()
	if err != nil {
		return out, fmt.Errorf("append to the erasure audit log: %w", err)
	}
	s.log.Info("customer erased", zap.String("requester", requester), zap.Int("profiles", out.Profiles), zap.Int("keys", out.Keys))
	return out, nil
}

// announceGone tells the population views (pkg/view) that customers are
// gone from every namespace: a Gone summary of each on the summaries topic.
func (s *Server) announceGone(ctx context.Context, namespaces, customers []string) error {
	if s.out == nil {
		return nil
	}
	var msgs []kafka.Message
	for _, ns := range namespaces {
		for _, c := range customers {
			m, err := view.Message(profile.Summary{Customer: c, Gone: true}, "/api", ns)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
	}
	if err := s.out.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("announce the erasure to the population views: %w", err)
	}
	return nil
}

// consentBody is PUT /v1/profiles/{id}/consent: channel -> opted in.
type consentBody map[string]bool

func (s *Server) putConsent(w http.ResponseWriter, r *http.Request) error {
	c := r.PathValue("id")
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	var body consentBody
	if err := json.Unmarshal(raw, &body); err != nil || len(body) == 0 {
		return badf(`body must be a JSON object of channels to booleans, such as {"email": false}`)
	}
	at := time.Now().UTC()
	data, _ := json.Marshal(map[string]any{"user_id": c, "consent": body})
	if err := s.validate(data); err != nil {
		return badf("consent: %v", err)
	}
	// An identify event, as if the customer had told the shop: written to the
	// profile at once, so the next trigger decision sees it, and published
	// for the profile-updater and replays. Both writes are idempotent
	// (last writer wins by event time), so a retry is safe.
	h := sha256.Sum256(append([]byte(c+"\x00"+at.Format(time.RFC3339Nano)+"\x00"), raw...))
	e := cloudevents.NewEvent()
	e.SetID("consent-" + hex.EncodeToString(h[:12]))
	e.SetSource("/api")
	e.SetType(event.Identify)
	e.SetTime(at)
	e.SetExtension(event.ExtPartitionKey, c)
	if err := e.SetData(cloudevents.ApplicationJSON, json.RawMessage(data)); err != nil {
		return err
	}
	op, err := profile.OpOf(e, s.store.Currency())
	if err != nil {
		return fmt.Errorf("consent op: %w", err)
	}
	v, ns, err := s.view(r.Context())
	if err != nil {
		return err
	}
	if _, err := ns.store.Write(r.Context(), at, []profile.Op{op}); err != nil {
		return fmt.Errorf("write consent: %w", err)
	}
	if s.out != nil {
		m, err := stream.ToMessage(event.TopicIdentify, e)
		if err != nil {
			return err
		}
		if err := s.out.WriteMessages(r.Context(), m); err != nil {
			return fmt.Errorf("publish consent: %w", err)
		}
	}
	ps, err := ns.store.GetAgainst(r.Context(), s.cfg.Now(), []string{c}, v)
	if err != nil {
		return fmt.Errorf("read profile: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": c, "consent": ps[0].Consent, "event_id": e.ID()})
	return nil
}

func (s *Server) validate(data []byte) error {
	s.validatorOnce.Do(func() { s.validator, s.validatorErr = event.NewValidator() })
	if s.validatorErr != nil {
		return s.validatorErr
	}
	return s.validator.Validate(event.Identify, data)
}
