package explain

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/stack"
)

// env is the gateway over throwaway parts, for one case.
type env struct {
	vault *memVault
	net   *network.Builtin
	cvvs  *placeholderCVVs
	keys  *keys.Keys
	stack *stack.Stack
}

var (
	keysOnce sync.Once
	devKeys  *keys.Keys
	keysErr  error
)

// throwawayKeys is a development keyset generated once per process: its
// keys seal only placeholder records that live as long as the process.
func throwawayKeys() (*keys.Keys, error) {
	keysOnce.Do(func() {
		data, err := keys.GenerateKeyset(nil)
		if err != nil {
			keysErr = err
			return
		}
		devKeys, keysErr = keys.Parse(data, nil)
	})
	return devKeys, keysErr
}

// placeholderNet is the builtin service whose cryptograms are the
// placeholder, so the detokenizer writes <cryptogram> itself; the ECI and
// whether a cryptogram is issued at all are the builtin's.
type placeholderNet struct{ *network.Builtin }

func (p placeholderNet) Cryptogram(ctx context.Context, req network.CryptogramRequest) (network.Cryptogram, error) {
	c, err := p.Builtin.Cryptogram(ctx, req)
	if err == nil && c.Value != "" {
		c.Value = PlaceholderCryptogram
	}
	return c, err
}

// newEnv wires the stack as the gateway does (stack.New); provider is the
// name the rule set gives its network token service ("" for the default),
// under which the builtin answers too. now is the builtin's clock: the
// real one inbound, where the merchant's card must provision as it would
// today; the fixed one outbound, where the sample card's token expiry is
// shown.
func newEnv(provider string, now func() time.Time) (*env, error) {
	ks, err := throwawayKeys()
	if err != nil {
		return nil, fmt.Errorf("generating a throwaway keyset: %w", err)
	}
	months := map[string]int{}
	for _, b := range card.Brands() {
		months[string(b)] = 36
	}
	nb, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{0x42}, 32), Now: now, TokenExpiryMonths: months}, network.NewMemoryStore())
	if err != nil {
		return nil, err
	}
	svc := placeholderNet{nb}
	reg := network.Registry{nb.Name(): svc}
	if provider != "" {
		reg[provider] = svc
	}
	mv := newMemVault()
	cvvs := &placeholderCVVs{held: map[string]string{}}
	st := stack.New(stack.Config{Vault: mv, Keys: ks, CVVs: cvvs, ShortLived: mv, Networks: reg, Provisioner: nb.Name(),
		ProvisionTimeout: 5 * time.Second})
	return &env{vault: mv, net: nb, cvvs: cvvs, keys: ks, stack: st}, nil
}

func (e *env) close() {}

// placeholderCVVs holds the <cvv> placeholder for explain's one request:
// the memory CVV store holds only the digits of a real CVV, and a case
// here needs neither expiry nor bounds.
type placeholderCVVs struct {
	mu   sync.Mutex
	held map[string]string
}

func (c *placeholderCVVs) PutCVV(_ context.Context, tenant, token, cvv string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held[tenant+"\x00"+token] = cvv
	return nil
}

func (c *placeholderCVVs) TakeCVV(_ context.Context, tenant, token string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.held[tenant+"\x00"+token]
	delete(c.held, tenant+"\x00"+token)
	return v, ok, nil
}
