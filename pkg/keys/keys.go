// Package keys turns ids that come from outside — customer ids, anonymous
// ids, import sources — into parts of Redis keys, so that no id, whatever its
// bytes, can name a key that is not its own.
//
// A key that belongs to one customer is "<prefix>:{<Tag(id)>}:<suffix>"
// (Customer): the braces make the customer's keys share one Redis Cluster
// slot. Tag percent-encodes every byte that could end the hash tag ('{', '}'),
// start an escape ('%'), act in a SCAN pattern ('*', '?', '[', ']', '\'), or
// begin a shared tag ('#'), and every space or control byte. So:
//   - Tag is injective (Untag reverses it): two ids never share a key;
//   - a tag holds no brace, so an id cannot move its keys to another slot or
//     another customer's ("c1}:p" is not "c1" with a suffix);
//   - keys that hold many customers' entries — population, timers, indexes,
//     records — have tags that begin with '#' (Shared), which no Tag begins
//     with, so no id can name them.
//
// Every package that owns keys builds them in its keys.go from these
// functions; no other code concatenates key strings.
package keys

import (
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
)

const hex = "0123456789ABCDEF"

// safe tells whether byte b stands for itself in a tag. Bytes from 0x80 up
// (UTF-8 beyond ASCII) are kept: they are neither delimiters nor glob
// characters.
func safe(b byte) bool {
	switch {
	case b >= 0x80:
		return true
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-_.~:@+=/!$&'(),;|<>\"`", b) >= 0
}

// Tag encodes id as the body of a hash tag.
func Tag(id string) string {
	n := 0
	for i := 0; i < len(id); i++ {
		if !safe(id[i]) {
			n++
		}
	}
	if n == 0 {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 2*n)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ErrTag is returned by Untag for a string that Tag does not produce.
var ErrTag = errors.New("not an encoded id")

// Untag returns the id that Tag encoded as tag.
func Untag(tag string) (string, error) {
	if !strings.Contains(tag, "%") {
		for i := 0; i < len(tag); i++ {
			if !safe(tag[i]) {
				return "", ErrTag
			}
		}
		return tag, nil
	}
	b := make([]byte, 0, len(tag))
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c != '%' {
			if !safe(c) {
				return "", ErrTag
			}
			b = append(b, c)
			continue
		}
		if i+2 >= len(tag) {
			return "", ErrTag
		}
		hi, lo := strings.IndexByte(hex, tag[i+1]), strings.IndexByte(hex, tag[i+2])
		if hi < 0 || lo < 0 || safe(byte(hi<<4|lo)) {
			return "", ErrTag
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), nil
}

// Customer returns the start of every key of customer id under prefix:
// "<prefix>:{<Tag(id)>}:", to which the owner adds a suffix.
func Customer(prefix, id string) string {
	return prefix + ":{" + Tag(id) + "}:"
}

// Shared returns the key under prefix of the shared slot name (a constant of
// the package that owns it, such as "rfm" or "timers"): "<prefix>:{#<name>}".
// The owner adds ":<suffix>" where it keeps several keys in the slot.
func Shared(prefix, name string) string {
	return prefix + ":{#" + name + "}"
}

// CustomerOf returns the customer id whose key under prefix is key, and the
// suffix after the tag, or ok false for a key that is no customer's.
func CustomerOf(prefix, key string) (id, suffix string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix+":{")
	if !ok {
		return "", "", false
	}
	tag, suffix, ok := strings.Cut(rest, "}:")
	if !ok || strings.HasPrefix(tag, "#") {
		return "", "", false
	}
	id, err := Untag(tag)
	if err != nil {
		return "", "", false
	}
	return id, suffix, true
}

// Link is the collector's identity link of the anonymous customer id c
// ("anon:<anonymous id>"): the user id it was tied to. It lives under the
// "sf" prefix whatever the namespace, in c's slot; the profile store erases
// it with c.
func Link(c string) string { return Customer("sf", c) + "link" }

// Links is the set of anonymous customer ids the collector linked to the
// user id u, written before each Link, so that an erasure of u finds the
// visitors whose identify the profile-updater has not merged yet.
func Links(u string) string { return Customer("sf", u) + "links" }

// SharedOf returns the name of the shared slot of key under prefix (what
// Shared was given), or ok false for a key that is in no shared slot.
func SharedOf(prefix, key string) (name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix+":{#")
	if !ok {
		return "", false
	}
	name, _, ok = strings.Cut(rest, "}")
	return name, ok
}

// Shards is how many slots a shared record of many customers is split into
// (timers, the segment index, the erasure record, import records). Shard n
// is placed in the n-th of Shards equal bands of Redis Cluster's 16384 slots, so a cluster
// whose slots are split evenly among its masters (as redis-cli --cluster
// create splits them) holds Shards/masters ± 1 shards on each: 85 or 86 of
// 3 masters, 10 or 11 of 24, 4 of 64. Reading every shard is one pipeline of
// cheap commands.
const Shards = 256

// Shard returns the key under prefix of the shard of the shared record name
// that holds member (a customer id, a row id), n = FNV-1a(member) mod Shards.
// The owner adds ":<suffix>" as with Shared.
func Shard(prefix, name, member string) string {
	return ShardN(prefix, name, ShardOf(member))
}

// ShardOf is the number of the shard that holds member.
func ShardOf(member string) int {
	h := fnv.New32a()
	h.Write([]byte(member))
	return int(h.Sum32() % Shards)
}

// ShardN returns the key of shard n (0 ≤ n < Shards) of the shared record
// name, for readers that go through every shard: "<prefix>:{#<name>.<n>.<k>}",
// where k is the smallest number that puts the tag in the n-th slot band.
func ShardN(prefix, name string, n int) string {
	return Shared(prefix, shardTags(name)[n])
}

var shardTagCache sync.Map // name -> *[Shards]string

// shardTags returns the tags of the shards of name, found once.
func shardTags(name string) *[Shards]string {
	if t, ok := shardTagCache.Load(name); ok {
		return t.(*[Shards]string)
	}
	var tags [Shards]string
	const band = 16384 / Shards
	for n := range tags {
		base := name + "." + strconv.Itoa(n) + "."
		for k := 0; ; k++ {
			tag := base + strconv.Itoa(k)
			if slot("#"+tag)/band == n {
				tags[n] = tag
				break
			}
		}
	}
	t, _ := shardTagCache.LoadOrStore(name, &tags)
	return t.(*[Shards]string)
}

// slot is the Redis Cluster slot of a hash tag: CRC16 (XMODEM) mod 16384.
func slot(tag string) int {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}
