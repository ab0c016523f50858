package pgvault

import (
	"context"
	"encoding/json"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// changesChannel is where the database announces changed and deleted rows
// (migration 002).
const changesChannel = "tokengate_changes"

// Change is a record or a state entry that some gateway changed or deleted.
// All is set when the database could not say which (drop everything).
type Change struct {
	Tenant string `json:"tenant"` // a record's
	Token  string `json:"token"`
	Name   string `json:"name"` // a state entry's (KV space and id)
	ID     string `json:"id"`
	All    bool   `json:"-"`
}

// Watcher receives what Watch hears.
type Watcher struct {
	// Changed is called for every announced change, in commit order.
	Changed func(Change)
	// Listening is called with true once the listening connection is up
	// (every change committed from then on will be announced) and with
	// false when it is lost; until the next true, changes may go unheard,
	// so anything kept in memory must be dropped or not trusted.
	Listening func(bool)
	// Error, when set, is told why the connection was lost (or could not
	// be made), before Listening(false).
	Error func(error)
}

// reconnectDelay is how long Watch waits before connecting again.
const reconnectDelay = time.Second

// keepAlive makes a silently dead listening connection (a network
// partition, a database host gone) noticed within about 20 s: idle 5 s, then
// three probes 5 s apart. A connection that closes is noticed at once.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}

// Watch listens on a connection of its own for the changes any gateway
// commits, until ctx ends, reconnecting after a second when the
// connection is lost. It returns at once.
func (v *Vault) Watch(ctx context.Context, w Watcher) {
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cfg := v.pool.Config().ConnConfig.Copy()
			cfg.DialFunc = (&net.Dialer{KeepAliveConfig: keepAlive}).DialContext
			return pgx.ConnectConfig(ctx, cfg)
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() != nil {
				return
			}
			if w.Error != nil {
				w.Error(err) // first, so that Listening(false) can tell why
			}
			w.Listening(false)
		},
		ReconnectDelay: reconnectDelay,
	}
	l.Handle(changesChannel, changeHandler(w))
	go l.Listen(ctx)
}

type changeHandler Watcher

// HandleBacklog is called once LISTEN has taken effect on a new connection.
func (h changeHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.Listening(true)
	return nil
}

// HandleNotification decodes a change; one it cannot read drops everything.
func (h changeHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var c Change
	if err := json.Unmarshal([]byte(n.Payload), &c); err != nil || (c.Token == "" && c.ID == "") {
		c = Change{All: true}
	}
	h.Changed(c)
	return nil
}
