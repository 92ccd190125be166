package testenv

import "github.com/segflow/segflow/pkg/predict"

// CDNOWModel has the published parameters for the CDNOW sample, weekly,
// on its 39-week calibration: BG/NBD (Fader, Hardie & Lee 2005) and
// Gamma-Gamma (Fader & Hardie 2013).
var CDNOWModel = predict.NewModel(
	predict.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, Unit: predict.Week},
	predict.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44},
)

// Model is a source of a fixed model (a profile.Models): a store configured
// with it predicts with M.
type Model struct{ M predict.Model }

// Model returns M.
func (m Model) Model() (predict.Model, bool) { return m.M, true }
