package caddymodule

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/network"
)

// State is the state of the gateway, or of one component of it.
type State string

// The states. A component goes starting -> ready, or starting -> waiting
// (-> waiting ...) -> ready while a service does not answer, or to refused
// when what it found cannot be served (and is not retried); every one goes
// to stopped with its config.
const (
	// StateStarting: the config is provisioned; Start has not opened the
	// component yet.
	StateStarting State = "starting"
	// StateWaiting: the service did not answer; the app retries it with
	// backoff.
	StateWaiting State = "waiting"
	// StateReady: open and serving.
	StateReady State = "ready"
	// StateDegraded, for a component readiness does not wait on: it works
	// with less (a change feed not listening: the record cache is off).
	StateDegraded State = "degraded"
	// StateRefused: open or reached, and it must not serve: the keyset does
	// not open the vault's records, a password is wrong, a file cannot be
	// opened. Not retried; fix the config and reload.
	StateRefused State = "refused"
	// StateStopped: the config was stopped (a reload replaced it, or Caddy
	// is exiting).
	StateStopped State = "stopped"
)

// Reasons say why a component is not ready, in the gateway's own words:
// they never hold a host, a user, a path or a secret, so a health answer
// may show them. Component.Err has the error itself, for the log.
const (
	reasonNotStarted    = "not opened yet"
	reasonUnreachable   = "the service does not answer"
	reasonKeyset        = "the keyset cannot be loaded or does not open the vault's records"
	reasonMisconfigured = "misconfigured: the service refused the gateway, or the file cannot be opened"
	reasonNotListening  = "not hearing other gateways' changes; record cache off"
	reasonNotAnswering  = "opened, and does not answer now"
)

// Component names.
const (
	componentVault      = "vault"
	componentCVVs       = "cvv_store"
	componentChangeFeed = "change_feed"
)

func networkComponent(name string) string { return "network " + name }

// Component is the state of one thing the gateway depends on.
type Component struct {
	// Name is "vault", "cvv_store", "network <name>" (one per network token
	// service) or "change_feed" (a vault shared by several gateways).
	Name string `json:"name"`
	// Backend is the module: "bolt", "postgres", "memory", "redis",
	// "builtin", "juspay", "basistheory".
	Backend string `json:"backend"`
	// Required is whether the gateway's readiness waits on the component.
	// The vault, the CVV store and a network service that keeps its state in
	// the vault are required; a network service that is a provider's client
	// is not (while its breaker is open, cards are stored vault-only), nor is
	// the change feed.
	Required bool  `json:"required"`
	State    State `json:"state"`
	// Reason says why the component is not ready (see the reason*
	// constants): safe to show.
	Reason string `json:"reason,omitempty"`
	// Breaker is the state of a provider client's circuit breaker:
	// "closed", "half-open" or "open"; "" for a component without one.
	Breaker string `json:"breaker,omitempty"`
	// Since is when State last changed (zero for the change feed, whose
	// state is read live).
	Since time.Time `json:"since,omitzero"`
	// Attempts counts the failed attempts to open it.
	Attempts int `json:"attempts,omitempty"`
	// Err is the last error opening it. It may name a host, a user or a
	// path: log it, never answer it.
	Err error `json:"-"`
}

// Readiness is what the app tells a health check (see App.Readiness).
type Readiness struct {
	// Ready is whether tokenize and detokenize serve: every required
	// component is ready and the config is running.
	Ready bool `json:"ready"`
	// State is the gateway's: ready; starting or waiting (something
	// required is not open yet, retried); refused (something required must
	// not serve: not retried); stopped.
	State State `json:"state"`
	// Since is when the gateway's state last changed.
	Since time.Time `json:"since"`
	// Components are the vault, the CVV store, each network token service
	// (in configuration order) and the change feed if there is one.
	Components []Component `json:"components"`
}

// Readiness reports the gateway's state and each component's. It is cheap
// (a lock, a copy, the breakers' states) and safe to call from any
// goroutine, for a health handler on every probe. The states are those of
// opening the components: a service that fails after it opened shows in the
// requests (503 for what needs it) and, for the change feed and the
// breakers, here, read live.
func (a *App) Readiness() Readiness {
	if a.status == nil {
		return Readiness{State: StateStarting}
	}
	return a.status.snapshot(a.stack.Load() != nil)
}

// Check is Readiness, and also asks the opened vault and CVV store that
// reach a service (PostgreSQL, Redis: a Pinger) whether they answer now,
// bounded by ctx (give it a deadline of a second or two). One that does not
// is reported waiting (reason "opened, and does not answer now", Err the
// ping's error) and the gateway not Ready, State stays what opening left:
// tokenize and detokenize then answer 503 for what needs it, and recover
// by themselves when it answers (see README "Running several gateways").
// Readiness alone never does I/O; Check does one round trip per service.
func (a *App) Check(ctx context.Context) Readiness {
	return a.check(ctx, func(ctx context.Context, _ string, p Pinger) error { return p.Ping(ctx) })
}

// check is Check, asking each service with ping (Check asks it directly,
// the health handler through its short cache: see checkCached).
func (a *App) check(ctx context.Context, ping func(ctx context.Context, name string, p Pinger) error) Readiness {
	rd := a.Readiness()
	pingers := map[string]any{componentVault: a.vault, componentCVVs: a.cvvBackend}
	for i := range rd.Components {
		c := &rd.Components[i]
		p, ok := pingers[c.Name].(Pinger)
		if !ok || c.State != StateReady { // not opened yet: nothing to ask
			continue
		}
		if err := ping(ctx, c.Name, p); err != nil {
			c.State, c.Reason, c.Err = StateWaiting, reasonNotAnswering, err
			rd.Ready = false
		}
	}
	return rd
}

// readiness keeps the components' states for Readiness.
type readiness struct {
	mu         sync.Mutex
	components []Component
	clients    map[string]network.Service // the provider clients, for their breakers
	feed       ChangeFeed                 // nil without one
	stop       bool
	state      State
	since      time.Time
	pings      pingCache // the services' last answers, for checkCached
}

// newReadiness lists a's components, all starting but the provider clients,
// which Provision opened.
func newReadiness(a *App) *readiness {
	now := time.Now()
	r := &readiness{clients: map[string]network.Service{}, state: StateStarting, since: now}
	if a.remoteKEK() { // the keyset waits on its KMS (kek_load.go)
		r.components = append(r.components, Component{Name: componentKEK, Backend: a.kekModule, Required: true, State: StateStarting, Reason: reasonNotStarted, Since: now})
	}
	r.components = append(r.components, []Component{
		{Name: componentVault, Backend: caddy.GetModuleName(a.vault), Required: true, State: StateStarting, Reason: reasonNotStarted, Since: now},
		{Name: componentCVVs, Backend: caddy.GetModuleName(a.cvvBackend), Required: true, State: StateStarting, Reason: reasonNotStarted, Since: now},
	}...)
	for _, name := range a.networkNames() {
		c := Component{Name: networkComponent(name), Backend: name, State: StateReady, Since: now}
		if a.isLateNetwork(name) {
			c.Required, c.State, c.Reason = true, StateStarting, reasonNotStarted
		} else {
			r.clients[c.Name] = a.networks[name].(observedNetwork).Service
		}
		r.components = append(r.components, c)
	}
	if feed, ok := a.vault.(ChangeFeed); ok {
		r.feed = feed
		r.components = append(r.components, Component{Name: componentChangeFeed, Backend: caddy.GetModuleName(a.vault), State: StateStarting, Reason: reasonNotStarted})
	}
	return r
}

// set sets a component's state.
func (r *readiness) set(name string, s State, reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.components, func(c Component) bool { return c.Name == name })
	if i < 0 {
		return
	}
	c := &r.components[i]
	if s != StateReady {
		c.Attempts++
	}
	if c.State != s {
		c.State, c.Since = s, time.Now()
	}
	c.Reason, c.Err = reason, err
	r.update()
}

// failed records a failed attempt to open a component: refused if
// retrying cannot fix it, waiting otherwise.
func (r *readiness) failed(name string, err error) {
	if isMisconfigured(err) {
		r.set(name, StateRefused, reasonMisconfigured, err)
		return
	}
	r.set(name, StateWaiting, reasonUnreachable, err)
}

// ready records that the stack is built.
func (r *readiness) ready() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state, r.since = StateReady, time.Now()
}

// stopped records that the config stopped.
func (r *readiness) stopped() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop = true
	r.state, r.since = StateStopped, time.Now()
}

// update works out the gateway's state from the required components'
// while it is not ready. Called with mu held.
func (r *readiness) update() {
	if r.stop || r.state == StateReady {
		return
	}
	state := StateStarting
	for _, c := range r.components {
		switch {
		case !c.Required:
		case c.State == StateRefused:
			state = StateRefused
		case c.State == StateWaiting && state != StateRefused:
			state = StateWaiting
		}
	}
	if state != r.state {
		r.state, r.since = state, time.Now()
	}
}

// snapshot copies the states, reading the live ones (the breakers, the
// change feed).
func (r *readiness) snapshot(built bool) Readiness {
	r.mu.Lock()
	out := Readiness{State: r.state, Since: r.since, Ready: built && !r.stop, Components: slices.Clone(r.components)}
	r.mu.Unlock()
	for i := range out.Components {
		c := &out.Components[i]
		if svc, ok := r.clients[c.Name]; ok {
			if b, ok := svc.(interface{ BreakerState() string }); ok {
				c.Breaker = b.BreakerState()
			}
		}
		if c.Name == componentChangeFeed && built {
			c.State, c.Reason = StateReady, ""
			if !r.feed.Listening() {
				c.State, c.Reason = StateDegraded, reasonNotListening
			}
		}
	}
	return out
}
