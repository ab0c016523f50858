package vault

import "github.com/VictoriaMetrics/fastcache"

// Len reports how many records the cache holds now (expired ones not yet
// overwritten included), for metrics.
func (c *Cache) Len() int {
	var s fastcache.Stats
	c.byToken.UpdateStats(&s)
	return int(s.EntriesCount)
}

// Cap reports about how many records the cache holds at most (NewCache).
func (c *Cache) Cap() int { return c.max }
