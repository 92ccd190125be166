// Package tag assigns a profile its tags (自動貼標) and member tier by
// declarative rules, as the profile-updater does on every change.
//
// Tag rules are CEL expressions (https://cel.dev) over the profile's fields,
// configured in YAML:
//
//	tags:
//	  - name: big_spender                # a fixed tag, set while When holds
//	    when: m_score == 5
//	  - name: bought_category            # dynamic tags, one per string Each returns
//	    each: bought_categories.map(c, "bought:category:" + c)
//	tiers:                               # lifetime spend in major units, ascending
//	  - {name: member, min_lifetime: "0"}
//	  - {name: silver, min_lifetime: "1000"}
//
// The variables are the profile's fields (see Input): stage and segment
// (string); r, f, r_score, f_score, m_score and orders (int); m, lifetime and
// cart_value (double, major units); bought_skus, bought_categories,
// viewed_skus and viewed_categories (list(string)); traits (map(string, dyn):
// each identify trait typed as string, double, bool or timestamp, such as
// traits[?"age"].orValue(0) >= 18) and consent (map(string, bool)). Besides
// CEL's standard library, rules may use the strings extension (lowerAscii,
// split, ...) and optional values (traits[?"city"].orValue("")). A rule
// that fails on a customer's values (a trait they lack, or of another type)
// holds not for them (Engine.Eval).
//
// Compile type-checks every expression once, so a rule that could not produce
// a bool (When) or a list of strings (Each) is refused at start-up rather than
// failing on each profile. Eval is pure: the same Input always gives the same
// tags and tier, so live processing, replays and tests agree. Money reaches CEL
// as doubles in major units for readable thresholds (m >= 500.0); tiers, whose
// boundaries decide rewards, are compared exactly in micros in Go.
//
// The profile-updater evaluates each customer's rules with a Memo of their
// last evaluation (EvalMemo), which evaluates again only the rules that
// read a variable whose value changed. An Each rule made of map and filter
// macros over a list variable (viewed_skus.filter(s, !(s in
// bought_skus)).map(s, "viewed_not_bought:" + s)) is taken element by
// element (each.go): the memo keeps what each element gave, so a view of a
// new product evaluates the rule for that product alone, not for every
// product viewed. BenchmarkEval gives the cost of an evaluation after a
// view and after an order beside the same rules written in plain Go.
package tag
