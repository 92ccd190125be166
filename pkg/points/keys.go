package points

import "github.com/segflow/segflow/pkg/keys"

// Every key of the ledger, under the prefix "pt", per customer c and
// hash-tagged like the profile's: pt:{c}:credits (hash decision id ->
// "<left>|<expires ms>|<issued ms>") and pt:{c}:spends (hash order id ->
// points spent, or "refused").
const prefix = "pt"

func creditsKey(c string) string { return keys.Customer(prefix, c) + "credits" }
func spendsKey(c string) string  { return keys.Customer(prefix, c) + "spends" }

// Keys are every key of customer c's ledger, for erasure.
func Keys(c string) []string { return []string{creditsKey(c), spendsKey(c)} }
