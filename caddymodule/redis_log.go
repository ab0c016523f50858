package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisLogName names go-redis's lines in Caddy's log.
const redisLogName = "tokengate.redis"

// redisLog sends go-redis's own lines (a pool that cannot dial, a
// connection with unread data) to Caddy's log as JSON, instead of the plain
// "redis: <date> pool.go:…" lines it writes to stderr by default, which
// break a log pipeline that expects Caddy's JSON.
//
// go-redis's logger is one global (redis.SetLogger, v9.23.0 redis.go), so
// it is set once per process, and each line asks caddy.Log() for the
// logger of the config running now: a logger taken from one config's
// context would outlive a reload and write to that config's closed outputs.
type redisLog struct{}

var setRedisLog sync.Once

// useCaddyLogForRedis installs redisLog, once.
func useCaddyLogForRedis() { setRedisLog.Do(func() { redis.SetLogger(redisLog{}) }) }

// Printf implements go-redis's internal.Logging. go-redis's lines are
// failures and oddities of connections, never commands' arguments, so they
// hold no CVV (the values are sealed anyway) and no token (key names hold
// only a keyed hash of it).
// A line about a command a request made (go-redis passes the command's
// context) carries the request's ids, as tokengate's own lines do.
func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	var fields []zap.Field
	if ctx != nil && ctx.Value(caddyhttp.ExtraLogFieldsCtxKey) != nil {
		fields = append(fields, requestLogOf(ctx))
	}
	caddy.Log().Named(redisLogName).Warn(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), fields...)
}
