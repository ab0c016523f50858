package network

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCryptogram(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) {
		c.ECI = map[string]string{"mastercard": "02"}
	})
	tok, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 1000 {
		c, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Value) != 28 {
			t.Fatalf("cryptogram %q has %d chars, want 28", c.Value, len(c.Value))
		}
		raw, err := base64.StdEncoding.DecodeString(c.Value)
		if err != nil || len(raw) != 20 {
			t.Fatalf("cryptogram %q decodes to %d bytes, %v", c.Value, len(raw), err)
		}
		if c.ECI != "07" {
			t.Fatalf("visa ECI %q, want the default 07", c.ECI)
		}
		if seen[c.Value] {
			t.Fatalf("cryptogram repeated after %d calls", len(seen))
		}
		seen[c.Value] = true
	}
	mc, _ := b.Provision(ctx, provisionReq("5555555555554444"))
	if c, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: mc.ID}); err != nil || c.ECI != "02" {
		t.Errorf("mastercard ECI %q, %v; want configured 02", c.ECI, err)
	}
	if n := testing.AllocsPerRun(100, func() { b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}) }); n > 2 && !raceEnabled {
		t.Errorf("Cryptogram allocates %v times per call", n)
	}
}

func TestCryptogramIsFreshWithAFixedClockAndRandom(t *testing.T) {
	// Even with a stuck clock and a constant "random" source, the counter
	// keeps cryptograms apart.
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) { c.Random = constReader{} })
	tok, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
	c2, _ := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
	if c1.Value == "" || c1.Value == c2.Value {
		t.Fatal("two cryptograms are equal")
	}
}

type constReader struct{}

func (constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 7
	}
	return len(p), nil
}

func TestLifecycle(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	tok, _ := b.Provision(ctx, provisionReq("4111111111111111"))
	mustErr := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}

	mustErr(b.SetStatus(ctx, tok.ID, StatusSuspended), nil)
	_, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
	mustErr(err, ErrSuspended)
	got, err := b.Get(ctx, tok.ID)
	if err != nil || got.Status != StatusSuspended || got.DPAN != tok.DPAN {
		t.Fatalf("suspended token: %v, %v", got, err)
	}

	mustErr(b.SetStatus(ctx, tok.ID, StatusActive), nil)
	if _, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); err != nil {
		t.Fatalf("reactivated token: %v", err)
	}
	mustErr(b.SetStatus(ctx, tok.ID, StatusActive), nil) // idempotent

	mustErr(b.SetStatus(ctx, tok.ID, StatusDeleted), nil)
	_, err = b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
	mustErr(err, ErrDeleted)
	got, err = b.Get(ctx, tok.ID)
	if err != nil || got.Status != StatusDeleted || got.DPAN != "" || got.PAR != tok.PAR {
		t.Fatalf("deleted token: %v, %v (DPAN empty: %v)", got, err, got.DPAN == "")
	}
	mustErr(b.SetStatus(ctx, tok.ID, StatusActive), ErrDeleted)
	mustErr(b.SetStatus(ctx, tok.ID, StatusSuspended), ErrDeleted)
	mustErr(b.SetStatus(ctx, tok.ID, StatusDeleted), nil) // deleting twice is fine

	// Suspended straight to deleted.
	tok2, _ := b.Provision(ctx, provisionReq("4111111111111111"))
	mustErr(b.SetStatus(ctx, tok2.ID, StatusSuspended), nil)
	mustErr(b.SetStatus(ctx, tok2.ID, StatusDeleted), nil)

	var ne *Error
	if err := b.SetStatus(ctx, tok2.ID, "INACTIVE"); !errors.As(err, &ne) || ne.Code != CodeInvalidStatus {
		t.Fatalf("unknown status: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	tok, _ := b.Provision(ctx, provisionReq("4111111111111111"))
	for _, id := range []string{
		"00000000-0000-4000-8000-000000000000", "", "nope", strings.ToUpper(tok.ID),
		dpanIndexKey(b.macs, tok.DPAN), // a reservation is not a token
		tok.DPAN,
	} {
		_, err := b.Get(ctx, id)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d chars): %v", len(id), err)
		}
		if _, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: id}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Cryptogram(%d chars): %v", len(id), err)
		}
		if err := b.SetStatus(ctx, id, StatusSuspended); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetStatus(%d chars): %v", len(id), err)
		}
		if err != nil {
			assertClean(t, "error", err.Error(), tok.DPAN)
		}
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	store := NewMemoryStore()
	clk := &clock{t: testNow}
	withClock := func(c *BuiltinConfig) { c.Now = clk.Now }
	b1 := newTestBuiltin(t, store, withClock)
	tok, err := b1.Provision(ctx, provisionReq("5555555555554444"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); err != nil {
		t.Fatal(err)
	}

	// A new instance (a restart or a config reload) over the same store.
	b2 := newTestBuiltin(t, store, withClock)
	got, err := b2.Get(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Fatalf("after restart: %v, want %v (same DPAN: %v)", got, tok, got.DPAN == tok.DPAN)
	}
	if _, err := b2.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); err != nil {
		t.Fatal(err)
	}

	// b2 suspends: b2 sees it at once; b1 (the old config during a reload)
	// within the cache TTL.
	if err := b2.SetStatus(ctx, tok.ID, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); !errors.Is(err, ErrSuspended) {
		t.Fatalf("b2 after suspend: %v", err)
	}
	clk.Advance(cacheTTL)
	if _, err := b1.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); !errors.Is(err, ErrSuspended) {
		t.Fatalf("b1 after the cache TTL: %v", err)
	}
	// b1 may act on what the store says even while its cache is stale.
	if err := b1.SetStatus(ctx, tok.ID, StatusDeleted); err != nil {
		t.Fatal(err)
	}
	if _, err := newTestBuiltin(t, store, withClock).Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); !errors.Is(err, ErrDeleted) {
		t.Fatalf("third instance after delete: %v", err)
	}

	// Another Key cannot derive the DPAN: it says so instead of inventing one.
	tok2, _ := b1.Provision(ctx, provisionReq("5555555555554444"))
	other := newTestBuiltin(t, store, func(c *BuiltinConfig) { c.Key = make([]byte, 32) })
	if _, err := other.Get(ctx, tok2.ID); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get under another key: %v", err)
	}
}

func TestStoreHoldsNoCardData(t *testing.T) {
	store := NewMemoryStore()
	b := newTestBuiltin(t, store)
	var secrets []string
	for _, pan := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"} {
		req := provisionReq(pan)
		tok, err := b.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
		_ = b.SetStatus(ctx, tok.ID, StatusSuspended)
		secrets = append(secrets, pan, tok.DPAN, c.Value, pan[6:len(pan)-4], tok.DPAN[6:len(tok.DPAN)-4])
	}
	ms := store.(*memoryStore)
	if len(ms.m) != 8 {
		t.Errorf("store has %d entries, want a state and a reservation per token", len(ms.m))
	}
	for k, v := range ms.m {
		assertClean(t, "store key", k, secrets...)
		assertClean(t, "store value", string(v), secrets...)
		assertClean(t, "store value", string(v), `"cvv"`, `"pan"`, `"dpan"`)
	}
}

func TestIDAndDPANCollisionsRetry(t *testing.T) {
	// A "random" source that repeats its first UUID: the second provision
	// finds the id taken and draws again.
	r := &scriptReader{script: [][]byte{uuidBytes(1), uuidBytes(1), uuidBytes(2)}}
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) { c.Random = r })
	t1, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	t2, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	if t1.ID == t2.ID || t1.DPAN == t2.DPAN {
		t.Fatal("a repeated id produced a duplicate token")
	}
	// Only repeats: Provision gives up instead of looping forever.
	r2 := &scriptReader{script: [][]byte{uuidBytes(3), uuidBytes(3), uuidBytes(3), uuidBytes(3),
		uuidBytes(3), uuidBytes(3), uuidBytes(3), uuidBytes(3), uuidBytes(3)}}
	b2 := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) { c.Random = r2 })
	if _, err := b2.Provision(ctx, provisionReq("4111111111111111")); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Provision(ctx, provisionReq("4111111111111111")); err == nil {
		t.Fatal("Provision succeeded with nothing but repeated ids")
	}
}

func uuidBytes(n byte) []byte {
	b := make([]byte, 16)
	b[0], b[15] = n, n
	return b
}

// scriptReader returns its script one read at a time, then constant bytes.
type scriptReader struct {
	mu     sync.Mutex
	script [][]byte
}

func (s *scriptReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script) == 0 {
		return constReader{}.Read(p)
	}
	n := copy(p, s.script[0])
	s.script = s.script[1:]
	return n, nil
}

func TestCacheStaysBounded(t *testing.T) {
	c := cache{m: map[string]*cached{}}
	now := testNow
	for i := range maxCacheEntries + 10 {
		c.update(&cached{st: tokenState{ID: itoa(i)}, expires: now.Add(cacheTTL)})
		if i == maxCacheEntries/2 {
			now = now.Add(time.Hour) // the first half has expired by now
		}
	}
	if len(c.m) > maxCacheEntries {
		t.Fatalf("cache grew to %d entries", len(c.m))
	}
	if c.get(itoa(maxCacheEntries+9), now) == nil {
		t.Fatal("the newest entry was lost")
	}
}

// slowStore lets a test hold one Load between reading the data and returning it.
type slowStore struct {
	StateStore
	mu     sync.Mutex
	armed  bool
	read   chan struct{} // closed once the armed Load has read its data
	resume chan struct{} // the armed Load returns when this is closed
}

func (s *slowStore) Load(ctx context.Context, id string) ([]byte, error) {
	d, err := s.StateStore.Load(ctx, id)
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	s.mu.Unlock()
	if armed {
		close(s.read)
		<-s.resume
	}
	return d, err
}

func TestSetStatusWinsOverARacingLookup(t *testing.T) {
	store := &slowStore{StateStore: NewMemoryStore()}
	b := newTestBuiltin(t, store)
	tok, _ := b.Provision(ctx, provisionReq("4111111111111111"))
	b.cache.m = map[string]*cached{} // force the next lookup to the store

	store.armed, store.read, store.resume = true, make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() { _, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); done <- err }()
	<-store.read // the lookup holds the ACTIVE state
	if err := b.SetStatus(ctx, tok.ID, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	close(store.resume)
	<-done // started before the suspension: either outcome is correct
	if _, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); !errors.Is(err, ErrSuspended) {
		t.Fatalf("a lookup that raced SetStatus put the old status back: %v", err)
	}
}

// creatorStore is a store shared by several processes: it refuses a clash
// itself (Creator), and counts the loads the emulator makes.
type creatorStore struct {
	StateStore
	mu    sync.Mutex
	loads int
}

func (c *creatorStore) Load(ctx context.Context, id string) ([]byte, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	return c.StateStore.Load(ctx, id)
}

func (c *creatorStore) Create(ctx context.Context, entries map[string][]byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range entries {
		if d, _ := c.StateStore.Load(ctx, id); d != nil {
			return false, nil
		}
	}
	return true, c.StateStore.SaveAll(ctx, entries)
}

// Two emulators over one shared store (two gateways) that draw the same id:
// neither can see the other's claim, so the store refuses the second write
// and the second emulator draws again. No store read is spent on checking
// for clashes first.
func TestSharedStoreRefusesAnotherProcesssClash(t *testing.T) {
	store := &creatorStore{StateStore: NewMemoryStore()}
	a := newTestBuiltin(t, store, func(c *BuiltinConfig) { c.Random = &scriptReader{script: [][]byte{uuidBytes(1)}} })
	b := newTestBuiltin(t, store, func(c *BuiltinConfig) { c.Random = &scriptReader{script: [][]byte{uuidBytes(1), uuidBytes(2)}} })
	t1, err := a.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	t2, err := b.Provision(ctx, provisionReq("5555555555554444"))
	if err != nil {
		t.Fatal(err)
	}
	if t1.ID == t2.ID || t1.DPAN == t2.DPAN {
		t.Fatal("two processes issued the same token")
	}
	if store.loads != 0 {
		t.Fatalf("%d store reads spent on clash checks a shared store makes itself", store.loads)
	}
	if got, err := a.Get(ctx, t2.ID); err != nil || got.DPAN != t2.DPAN {
		t.Fatalf("the first process does not see the second's token: %v", err)
	}
}
