package caddymodule

import (
	"context"
	"sync"
	"time"
)

// Health probes come every few seconds from each load balancer and from
// Kubernetes (periodSeconds defaults to 10, and every replica of an
// ingress probes on its own), and each readiness probe would otherwise be
// a round trip to PostgreSQL and one to Redis. The health handler asks
// through a cache instead: a service's answer is reused for
// pingCacheFor, and a probe that arrives while one is being asked waits
// for that answer rather than asking again. So a gateway pings each
// service at most about once a second however many probe it, and a
// service that stops answering shows within a second or two.
var (
	pingCacheFor = time.Second
	// pingTimeout bounds one ping: a service that takes longer (a host
	// that drops packets) is reported as not answering. It is per service,
	// so one that hangs does not make the next look down too.
	pingTimeout = time.Second
)

// pingCache keeps each service's last answer to a ping.
type pingCache struct {
	// mu is held across a ping, so concurrent probes share one round trip.
	mu   sync.Mutex
	last map[string]pingAnswer
}

type pingAnswer struct {
	at  time.Time
	err error
}

// ping returns p's answer to a ping made at most pingCacheFor ago, or asks
// it now, bounded by pingTimeout. ctx should not end with the request: an
// answer cut short because a prober hung up would be kept for the others.
func (c *pingCache) ping(ctx context.Context, name string, p Pinger) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ans, ok := c.last[name]; ok && time.Since(ans.at) < pingCacheFor {
		return ans.err
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := p.Ping(ctx)
	if c.last == nil {
		c.last = map[string]pingAnswer{}
	}
	c.last[name] = pingAnswer{at: time.Now(), err: err}
	return err
}

// checkCached is Check with each service's answer taken from the cache
// (see pingCache): what the health handler's readiness answer uses. The
// states of opening, the breakers and the change feed are read fresh.
func (a *App) checkCached(ctx context.Context) Readiness {
	if a.status == nil {
		return a.Readiness()
	}
	return a.check(context.WithoutCancel(ctx), a.status.pings.ping)
}
