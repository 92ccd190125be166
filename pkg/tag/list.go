package tag

import (
	"slices"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// setList is a CEL list of strings whose `in` looks the value up in a
// set, built at its second lookup, instead of comparing it with every
// element: `s in bought_skus` inside a comprehension over the viewed
// products costs one lookup, not a pass over up to 200 bought ones, while
// a memo that asks of one new product scans the list once instead of
// building a set for one lookup. It is built per evaluation, so it is
// never shared between goroutines.
type setList struct {
	traits.Lister
	items []string
	set   map[string]struct{}
	scans int // lookups made by scanning the items
}

// linearBelow is the length under which a scan beats building the set.
const linearBelow = 8

// scansBeforeSet is how many lookups scan a longer list before its set is
// built (BenchmarkEval: 4 made a whole evaluation a quarter slower).
const scansBeforeSet = 1

func newStringList(items []string) ref.Val {
	return &setList{Lister: types.NewStringList(types.DefaultTypeAdapter, items), items: items}
}

// Contains implements traits.Container.
func (l *setList) Contains(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return l.Lister.Contains(v)
	}
	if len(l.items) < linearBelow {
		return l.Lister.Contains(v)
	}
	if l.set == nil && l.scans < scansBeforeSet {
		l.scans++
		return types.Bool(slices.Contains(l.items, string(s)))
	}
	if l.set == nil {
		l.set = make(map[string]struct{}, len(l.items))
		for _, it := range l.items {
			l.set[it] = struct{}{}
		}
	}
	_, ok = l.set[string(s)]
	return types.Bool(ok)
}

// Fold implements traits.Foldable, which comprehensions use when a list has
// it.
func (l *setList) Fold(f traits.Folder) {
	l.Lister.(traits.Foldable).Fold(f)
}
