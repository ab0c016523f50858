package vault

// Len reports how many records the cache holds now (expired ones the LRU
// has not dropped yet included), for metrics.
func (c *Cache) Len() int { return c.byToken.Len() }

// Cap reports how many records the cache holds at most.
func (c *Cache) Cap() int { return c.max }
