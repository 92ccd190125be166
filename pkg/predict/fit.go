package predict

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// Fit says how a fit is recorded: its date and the time unit of the
// customers' inputs.
type Fit struct {
	// At is the fit date recorded in the parameters.
	At time.Time
	// Unit is the time unit of the customers' t_x and T. Zero means [Week].
	Unit time.Duration
}

func (f Fit) unit() time.Duration {
	if f.Unit <= 0 {
		return Week
	}
	return f.Unit
}

// objective evaluates a negative log-likelihood and its gradient with
// respect to the logarithms of the parameters, in one pass over the data.
type objective func(logParams, grad []float64) float64

// maximize finds the parameters (all positive) that maximize a
// log-likelihood, by BFGS over their logarithms, so that every step stays
// in the positive orthant without bounds. It returns the parameters and the
// log-likelihood there. n is the number of observations: the objective is
// divided by it so that the gradient threshold means the same at any size.
func maximize(f objective, start []float64, n int) ([]float64, float64, error) {
	// gonum asks for the value and the gradient at the same point in two
	// calls; one pass computes both, so the last point's are kept.
	var lastX, lastGrad []float64
	var lastF float64
	eval := func(x []float64) {
		if lastX != nil && slices.Equal(x, lastX) {
			return
		}
		if lastGrad == nil {
			lastGrad = make([]float64, len(x))
		}
		lastF = f(x, lastGrad) / float64(n)
		for i := range lastGrad {
			lastGrad[i] /= float64(n)
		}
		lastX = append(lastX[:0], x...)
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 {
			eval(x)
			return lastF
		},
		Grad: func(grad, x []float64) {
			eval(x)
			copy(grad, lastGrad)
		},
	}
	x0 := make([]float64, len(start))
	for i, v := range start {
		x0[i] = math.Log(v)
	}
	res, err := optimize.Minimize(p, x0, &optimize.Settings{
		GradientThreshold: 1e-8,
		MajorIterations:   1000,
		// The likelihoods here are smooth; a flat stretch of 20 iterations
		// is convergence.
		Converger: &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 20},
	}, &optimize.BFGS{})
	// A line search that can make no more progress has converged as far
	// as float64 allows: its result is kept if the gradient is small.
	if err != nil && !(errors.Is(err, optimize.ErrNoProgress) || errors.Is(err, optimize.ErrLinesearcherFailure)) {
		return nil, 0, fmt.Errorf("%w: %w", ErrNoFit, err)
	}
	if res == nil || math.IsNaN(res.F) || math.IsInf(res.F, 0) {
		return nil, 0, fmt.Errorf("%w: no finite optimum (%v)", ErrNoFit, err)
	}
	if g := gradNorm(res.Gradient); err != nil && g > 1e-5 {
		return nil, 0, fmt.Errorf("%w: stopped with gradient %g: %w", ErrNoFit, g, err)
	}
	out := make([]float64, len(res.X))
	for i, v := range res.X {
		out[i] = math.Exp(v)
		if !(out[i] > 0) || math.IsInf(out[i], 0) {
			return nil, 0, fmt.Errorf("%w: parameter %d went to %g", ErrNoFit, i, out[i])
		}
	}
	return out, -res.F * float64(n), nil
}

func gradNorm(g []float64) float64 {
	var m float64
	for _, v := range g {
		m = max(m, math.Abs(v))
	}
	return m
}
