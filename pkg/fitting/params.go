package fitting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/predict"
)

// Params is a fitted model as stored: both parameter sets with their fits,
// and the model's version. Floats survive JSON exactly.
type Params struct {
	Version string    `json:"version"`
	BGNBD   bgnbdJSON `json:"bgnbd"`
	Spend   ggJSON    `json:"gamma_gamma"`
}

type fitJSON struct {
	FittedAt      time.Time `json:"fitted_at"`
	Customers     int       `json:"customers"`
	LogLikelihood float64   `json:"log_likelihood"`
}

type bgnbdJSON struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
	Unit  string  `json:"unit"`
	fitJSON
}

type ggJSON struct {
	P     float64 `json:"p"`
	Q     float64 `json:"q"`
	Gamma float64 `json:"gamma"`
	fitJSON
}

// ParamsOf returns m as stored.
func ParamsOf(m predict.Model) Params {
	b, g := m.Purchases, m.Spend
	unit := b.Unit
	if unit <= 0 {
		unit = predict.Week
	}
	return Params{
		Version: m.Version(),
		BGNBD:   bgnbdJSON{R: b.R, Alpha: b.Alpha, A: b.A, B: b.B, Unit: unit.String(), fitJSON: fitJSON{b.FittedAt.UTC(), b.Customers, b.LogLikelihood}},
		Spend:   ggJSON{P: g.P, Q: g.Q, Gamma: g.Gamma, fitJSON: fitJSON{g.FittedAt.UTC(), g.Customers, g.LogLikelihood}},
	}
}

// Model returns the stored model, or an error if it is not whole or its
// version is not that of its parameters.
func (p Params) Model() (predict.Model, error) {
	unit, err := time.ParseDuration(p.BGNBD.Unit)
	if err != nil || unit <= 0 {
		return predict.Model{}, fmt.Errorf("model %s: time unit %q", p.Version, p.BGNBD.Unit)
	}
	m := predict.NewModel(
		predict.BGNBD{R: p.BGNBD.R, Alpha: p.BGNBD.Alpha, A: p.BGNBD.A, B: p.BGNBD.B, Unit: unit,
			FittedAt: p.BGNBD.FittedAt, Customers: p.BGNBD.Customers, LogLikelihood: p.BGNBD.LogLikelihood},
		predict.GammaGamma{P: p.Spend.P, Q: p.Spend.Q, Gamma: p.Spend.Gamma,
			FittedAt: p.Spend.FittedAt, Customers: p.Spend.Customers, LogLikelihood: p.Spend.LogLikelihood},
	)
	if m.Version() != p.Version {
		return predict.Model{}, fmt.Errorf("model %s: its parameters are version %s", p.Version, m.Version())
	}
	for _, v := range []float64{p.BGNBD.R, p.BGNBD.Alpha, p.BGNBD.A, p.BGNBD.B, p.Spend.P, p.Spend.Q, p.Spend.Gamma} {
		if !(v > 0) {
			return predict.Model{}, fmt.Errorf("model %s: a parameter is %g", p.Version, v)
		}
	}
	return m, nil
}

// Save stores m as namespace ns's model, replacing the one stored.
func Save(ctx context.Context, rdb redis.UniversalClient, ns string, m predict.Model) error {
	b, err := json.Marshal(ParamsOf(m))
	if err != nil {
		return fmt.Errorf("encode model %s: %w", m.Version(), err)
	}
	if err := rdb.Set(ctx, paramsKey(ns), b, 0).Err(); err != nil {
		return fmt.Errorf("store model %s of namespace %s: %w", m.Version(), ns, err)
	}
	return nil
}

// Load returns namespace ns's stored model, and false if none was stored.
func Load(ctx context.Context, rdb redis.UniversalClient, ns string) (predict.Model, bool, error) {
	b, err := rdb.Get(ctx, paramsKey(ns)).Bytes()
	if errors.Is(err, redis.Nil) {
		return predict.Model{}, false, nil
	}
	if err != nil {
		return predict.Model{}, false, fmt.Errorf("read the model of namespace %s: %w", ns, err)
	}
	var p Params
	if err := json.Unmarshal(b, &p); err != nil {
		return predict.Model{}, false, fmt.Errorf("decode the model of namespace %s: %w", ns, err)
	}
	m, err := p.Model()
	if err != nil {
		return predict.Model{}, false, fmt.Errorf("the model of namespace %s: %w", ns, err)
	}
	return m, true, nil
}
