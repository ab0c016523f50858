package vault

import "strings"

// maxSharedDays bounds the days the cache keeps a shared Metadata map for;
// past it the set starts over (maps already handed out stay valid).
const maxSharedDays = 400

// lastUsedOnly returns the day rec's Metadata holds when LastUsedKey is its
// only key: what every card the Touching vault stamps or touches carries
// until a served API saves it for a customer.
func lastUsedOnly(m map[string]string) (string, bool) {
	if len(m) != 1 {
		return "", false
	}
	day, ok := m[LastUsedKey]
	return day, ok
}

// dayMaps hands out one Metadata map {LastUsedKey: day} per day, shared by
// every record whose Metadata is exactly that. A map per record cost the
// read cache ~2.5 heap objects and ~375 bytes per card, all of it scanned
// by the garbage collector at every cycle (issue 20). Sharing is safe
// because no code changes a record's Metadata in place: a change clones it
// first (see Record.Metadata), which the cache already relies on, as every
// hit returns the same map. The zero value is ready; it is not safe for
// concurrent use.
type dayMaps map[string]map[string]string

// share returns m, or the shared map equal to it.
func (d *dayMaps) share(m map[string]string) map[string]string {
	day, ok := lastUsedOnly(m)
	if !ok {
		return m
	}
	if s, ok := (*d)[day]; ok {
		return s
	}
	if *d == nil || len(*d) >= maxSharedDays {
		*d = dayMaps{}
	}
	// A clone: day may be part of a decoded record's backing string, which
	// the shared map would otherwise keep alive.
	day = strings.Clone(day)
	s := map[string]string{LastUsedKey: day}
	(*d)[day] = s
	return s
}
