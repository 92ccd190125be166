package view

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
	"github.com/segflow/segflow/pkg/profile"
	"github.com/segflow/segflow/pkg/stream"
)

// The messages of the summaries topic. A summary is a profile.summary
// CloudEvent in binary content mode, keyed by customer, and it carries in
// one more header (entryHeader) what a population keeps of it: the fields
// profile.Store.Put reads. A population follower (every profile-updater and
// trigger process follows every summary of every updater) reads that header
// and never decodes the event's JSON, which is most of what following costs
// otherwise (about 11 µs a summary with a year of history's tags,
// BenchmarkApplyTwoWriters in pkg/profile): one process's share of
// following does not shrink as processes are added, so its cost bounds how
// far the updater scales out. A view, which keeps tags and traits too,
// decodes the event.

// entryHeader is the header of a summary's population fields: a flags byte
// (entryGone), then as varints its Version, At and Last (Unix ms), F and M.
const entryHeader = "segflow-entry"

const entryGone = 1

// Message returns the message of summary s evaluated in namespace ns, from
// source, for event.TopicSummaries.
func Message(s profile.Summary, source, ns string) (kafka.Message, error) {
	e, err := s.Event(source, ns)
	if err != nil {
		return kafka.Message{}, err
	}
	m, err := stream.ToMessage(event.TopicSummaries, e)
	if err != nil {
		return kafka.Message{}, err
	}
	var flags byte
	if s.Gone {
		flags |= entryGone
	}
	v := binary.AppendVarint([]byte{flags}, s.Version)
	for _, x := range []int64{s.At.UnixMilli(), s.Last.UnixMilli(), int64(s.F), s.M} {
		v = binary.AppendVarint(v, x)
	}
	m.Headers = append(m.Headers, kafka.Header{Key: entryHeader, Value: v})
	return m, nil
}

// PopulationOf returns what a population keeps of the summary message m
// (the Customer, Gone, Version, At, Last, F and M of its summary) and the
// namespace it was evaluated in, from its headers and key; false if m has
// no such header (a summary from before there was one) or is no summary.
func PopulationOf(m kafka.Message) (profile.Summary, string, bool) {
	var s profile.Summary
	var ns, typ string
	var entry []byte
	for _, h := range m.Headers {
		switch {
		case h.Key == entryHeader:
			entry = h.Value
		case strings.EqualFold(h.Key, "ce_type"):
			typ = string(h.Value)
		case strings.EqualFold(h.Key, "ce_"+event.ExtNamespace):
			ns = string(h.Value)
		}
	}
	if len(entry) == 0 || typ != event.ProfileSummary || len(m.Key) == 0 {
		return s, "", false
	}
	s.Customer, s.Gone = string(m.Key), entry[0]&entryGone != 0
	var x [5]int64
	rest := entry[1:]
	for i := range x {
		v, n := binary.Varint(rest)
		if n <= 0 {
			return profile.Summary{}, "", false
		}
		x[i], rest = v, rest[n:]
	}
	if len(rest) != 0 {
		return profile.Summary{}, "", false
	}
	s.Version, s.At, s.Last, s.F, s.M = x[0], time.UnixMilli(x[1]).UTC(), time.UnixMilli(x[2]).UTC(), int(x[3]), x[4]
	return s, ns, true
}
