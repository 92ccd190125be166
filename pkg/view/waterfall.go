package view

import (
	"slices"

	"github.com/segflow/segflow/pkg/tag"
	"github.com/segflow/segflow/pkg/waterfall"
)

// liveWaterfall tells whether a view evaluates the waterfall wf at each
// question instead of taking each customer's segment as last published:
// when wf reads nothing a view lacks, and its outcome may move with time or
// the population (it reads the stage, R, a score or the segment, or there
// are live tags, which it may read). Evaluated at T, the segments are those
// of the scores and stages at T, as the RFM segments are, and still a
// partition.
func liveWaterfall(wf *waterfall.Engine, live []tag.Live) bool {
	r := wf.Reads()
	return r.Held() && (r.Moves() || len(live) > 0)
}

// waterfallKey is what a customer's segment in a live waterfall depends
// on: the values it reads (tag.Reads.Key), their tier and published tags
// (their label set) and which live tags hold (a bit each).
type waterfallKey struct {
	values [10]int64
	labels uint32
	live   uint64
}

// waterfall returns the segment of customer x in the view's live waterfall
// at T, keeping segments by what they depend on, so that a waterfall over
// stages, scores and tiers costs a lookup a customer.
func (l *liveTags) waterfall(x *row) string {
	v := l.v
	in := inputOf(x)
	k := waterfallKey{values: v.wf.Reads().Key(in), labels: x.c.labels}
	var live []string
	for i, r := range v.live {
		if l.holds(i, x) {
			live = append(live, r.Name)
			if i < 64 {
				k.live |= 1 << i
			}
		}
	}
	keep := len(v.live) <= 64 // else the key does not tell every live tag
	if s, ok := l.segments[k]; ok && keep {
		return s
	}
	set := &v.labels.sets[x.c.labels]
	tags := live
	for _, t := range set.tags {
		tags = append(tags, v.names.names[t])
	}
	slices.Sort(tags)
	s := v.wf.Eval(waterfall.Input{Input: in, Tags: tags, Tier: v.tiers.names[set.tier]})
	if keep {
		l.segments[k] = s
	}
	return s
}
