// Package predict fits and applies the customer-base models segflow
// predicts with: BG/NBD (Fader, Hardie & Lee 2005) for the number of
// purchases and the probability of being alive, and Gamma-Gamma (Fader &
// Hardie 2013) for spend per purchase. It is pure: values in, values out,
// no clock and no I/O; the fit date is passed in.
//
// # Inputs
//
// A [Customer] holds the literature's inputs, computed by [Summarize] from
// orders: x, the repeat purchase days (distinct UTC days with an order,
// less the first); t_x, the time from the first purchase day to the last;
// T, the time from the first purchase day to the end of the observation;
// and the mean spend over the repeat purchase days. Times are in the
// model's unit, a week by default ([Week]).
//
// # Fits
//
// [FitBGNBD] and [FitGammaGamma] maximize the likelihood over the whole
// population with gonum's BFGS over the logarithms of the parameters, so
// that r, α, a, b and p, q, γ stay positive without bounds; the
// likelihoods use math.Lgamma and gonum's mathext (Lbeta, Digamma) and
// have analytic gradients. The terms that depend on x alone are computed
// once per distinct x, so one evaluation costs a few logarithms per
// customer. On the CDNOW sample both fits find the published parameters.
// Gamma-Gamma is fitted on the customers with repeat purchases and a
// positive mean spend only.
//
// Parameters are values that record their fit date, number of customers
// and log-likelihood; Version names them by a hash of the parameters (not
// of the date), and every [Prediction] carries its [Model.Version].
//
// # Predictions
//
// [BGNBD.PAlive], [BGNBD.ExpectedPurchases] (E[X(t)]),
// [BGNBD.ConditionalPurchases] (E[Y(t) | x, t_x, T]) and
// [GammaGamma.ConditionalSpend] (E[Z | x, z̄]) are the closed forms of the
// papers, with gonum's Gaussian hypergeometric function 2F1.
//
// CLV over a horizon H in n equal steps t_k = k·H/n, discounted at the
// annual rate d at the end of each step, is
//
//	CLV = E[Z | x, z̄] · Σ_{k=1..n} (E[Y(t_k) | x, t_x, T] − E[Y(t_{k−1}) | x, t_x, T]) / (1+d)^(t_k / 365 days)
//
// [DefaultCLV] is a year in monthly steps (n = 12) at d = 10% a year.
//
// # When P(alive) crosses a threshold
//
// A customer with x > 0 who buys nothing more sees P(alive) fall as T
// grows, strictly: only (α+T)^(r+x) in it changes. [BGNBD.AliveUntil]
// solves P(alive) = θ in closed form, so the time is exact and costs a
// logarithm and an exponential rather than a root search. A customer
// without repeat purchases is alive with probability 1 in BG/NBD (drop-out
// happens only just after a purchase), so P(alive) never crosses.
package predict
