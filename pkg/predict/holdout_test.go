package predict

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestHoldoutPurchasesAreCloseToThePredicted fits BG/NBD on the CDNOW
// calibration weeks 1–39 and compares, for weeks 40–78, each customer's
// predicted repeat purchase days E[Y(39) | x, t_x, T] with the actual ones,
// in total and by calibration frequency (Fader, Hardie & Lee 2005, as in
// their conditional expectations table). Run with -v to print the table.
func TestHoldoutPurchasesAreCloseToThePredicted(t *testing.T) {
	orders := loadCDNOWOrders(t)
	calibration, err := Summarize(orders, calibrationEnd, Week)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Summarize(orders, holdoutEnd, Week)
	if err != nil {
		t.Fatal(err)
	}
	m, err := FitBGNBD(values(calibration), Fit{})
	if err != nil {
		t.Fatal(err)
	}
	holdout := float64(holdoutEnd.Sub(calibrationEnd)) / float64(Week)
	if holdout != 39 {
		t.Fatalf("holdout of %g weeks, want 39", holdout)
	}
	const groups = 8 // x = 0..6 and 7+
	var n [groups]int
	var actual, predicted [groups]float64
	for id, c := range calibration {
		g := min(c.X, groups-1)
		n[g]++
		// Repeat purchase days in the holdout: all of them less those in
		// the calibration.
		actual[g] += float64(whole[id].X - c.X)
		predicted[g] += m.ConditionalPurchases(c, holdout)
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| x in weeks 1–39 | customers | actual, weeks 40–78 (mean) | predicted (mean) |")
	fmt.Fprintln(&b, "| --- | ---: | ---: | ---: |")
	var totalN int
	var totalActual, totalPredicted float64
	for g := range groups {
		label := fmt.Sprint(g)
		if g == groups-1 {
			label += "+"
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f |\n", label, n[g], actual[g]/float64(n[g]), predicted[g]/float64(n[g]))
		totalN += n[g]
		totalActual += actual[g]
		totalPredicted += predicted[g]
	}
	fmt.Fprintf(&b, "| total | %d | %.0f | %.1f |\n", totalN, totalActual, totalPredicted)
	t.Log("\n" + b.String())
	// On this sample the model predicts 12% fewer holdout purchase days
	// than there were, mostly among customers with 1 or 2 calibration
	// repeat purchases. 15% keeps that and still catches a conditional
	// expectation or a fit that is wrong by far.
	if math.Abs(totalPredicted-totalActual) > 0.15*totalActual {
		t.Errorf("predicted %.1f repeat purchase days in weeks 40–78, actual %.0f: more than 15%% apart", totalPredicted, totalActual)
	}
	// By group, the prediction rises with calibration frequency as the
	// actual purchases do.
	for g := 1; g < groups; g++ {
		if predicted[g]/float64(n[g]) <= predicted[g-1]/float64(n[g-1]) {
			t.Errorf("mean prediction for x=%d is not above x=%d's", g, g-1)
		}
	}
}
