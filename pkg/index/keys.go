package index

// Every key of the index, under its namespace's prefix (see the layout in
// the package comment).

// record is the shared record the index is sharded as ([keys.Shard]).
const record = "ix"

// shardKeys are the keys of one shard of the index.
type shardKeys string // the shard's key, to which suffixes are added

func (ix *Index) shardKeys(key string) shardKeys { return shardKeys(key + ":") }

func (sh shardKeys) snap() string             { return string(sh) + "snap" }
func (sh shardKeys) count(kind string) string { return string(sh) + "count:" + kind }
func (sh shardKeys) days() string             { return string(sh) + "days" }

// all are the shard's keys in the order of applyScript's KEYS.
func (sh shardKeys) all() []string {
	return []string{sh.snap(), sh.count(Stage), sh.count(Segment), sh.count(Tier), sh.count(Tag), sh.days()}
}
