// Package waterfall assigns each customer one segment of an ordered list
// (瀑布式分群, waterfall segmentation): the first whose condition holds for
// the profile, or the fallback if none does. However the conditions
// overlap, a customer is in exactly one segment, so the segments partition
// the customers and their counts add up to the population.
//
// The list is configured in YAML, each condition a CEL expression
// (https://cel.dev) over the profile:
//
//	segments:
//	  - name: hk_vip
//	    when: traits[?"region"].orValue("") == "HK" && m_score >= 4
//	  - name: lapsed
//	    when: stage in ["S2", "S3"]
//	fallback: other        # default "other"
//
// A condition reads what a tag rule reads (see pkg/tag: stage, segment,
// scores, orders, lifetime, traits, ...) and the rules' outcome: tags
// (list(string)) and tier (string). The environment is pkg/tag's
// ([tag.Env]), so a variable added to tag rules is there too.
//
// Compile type-checks every condition once, so one that could not produce
// a bool is refused at start-up, with the segment's name. Eval is pure: the
// same Input always gives the same segment. A condition that fails on a
// profile at run time (a missing map key: traits["city"] of a customer
// without a city) does not hold for it, and the customer falls through to
// the next segment, as a CEL || or && would absorb the error.
package waterfall
