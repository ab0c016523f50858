// Package networktest is the conformance suite for network.Service
// implementations. Every provider (the builtin emulator, the HTTP token
// service providers) runs Run in its tests, so callers can rely on the same
// semantics whichever provider is configured.
//
// The suite only goes through the Service interface, and its failure
// messages never print a PAN, DPAN or cryptogram: only ids, codes and lengths.
package networktest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/network"
)

// Profile says how a provider legitimately differs from the builtin
// emulator, so the suite checks it for what it promises.
type Profile struct {
	// OneTokenPerCard: the provider answers a second provisioning of a card
	// it holds with the same token (Basis Theory deduplicates), rather than
	// issuing another.
	OneTokenPerCard bool
	// AccountScopedKeys: idempotency keys are scoped by the provider
	// account, not by tokengate tenant, and a replay answers what the first
	// request got whatever the body (Basis Theory's BT-IDEMPOTENCY-KEY).
	// tokengate derives keys from tenant, card and former token, so the
	// checks that need tenant scoping, conflict detection or a fresh token
	// under an old key do not apply.
	AccountScopedKeys bool
	// NoMITRule: the provider takes no transaction type, so a Mastercard
	// merchant-initiated transaction gets a cryptogram too (tokengate's
	// lifecycle leaves it out).
	NoMITRule bool
	// NoSuspend: the provider's API cannot suspend or resume a token
	// (Juspay's); SetStatus to ACTIVE or SUSPENDED is a *network.Error.
	NoSuspend bool
	// DeletedIsGone: a deleted token is unknown afterwards (ErrNotFound)
	// rather than reported as DELETED.
	DeletedIsGone bool
}

// Run runs every conformance subtest against the service new returns (a
// fresh one per subtest), as the builtin emulator behaves.
func Run(t *testing.T, new func(t *testing.T) network.Service) {
	RunProfile(t, Profile{}, new)
}

// RunProfile is Run for a provider with the differences p names.
func RunProfile(t *testing.T, p Profile, new func(t *testing.T) network.Service) {
	profile = p
	tests := []struct {
		name string
		fn   func(t *testing.T, s network.Service)
	}{
		{"Provision", testProvision},
		{"TestCards", testTestCards},
		{"Get", testGet},
		{"Cryptograms", testCryptograms},
		{"Lifecycle", testLifecycle},
		{"Idempotency", testIdempotency},
		{"Concurrency", testConcurrency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, new(t))
		})
	}
}

// profile is the running suite's profile (suites do not run in parallel).
var profile Profile

type testCard struct{ pan, code string }

// testCards mirrors the Basis Theory network token test cards
// (network/testcards.go) with the code each one must be refused with. It is
// written out again rather than shared, so a typo in either shows up.
var testCards = []testCard{
	// Visa.
	{"4012888888881881", network.CodeProvisionDataExpired},
	{"4330251207506660", network.CodeCardVerificationFailed},
	{"4539097887163333", network.CodeCardNotEligible},
	{"4929980395567582", network.CodeCardNotAllowed},
	{"4929544240318920", network.CodeCardDeclined},
	{"4916725297925395", network.CodeProvisionNotAllowed},
	{"4711358892785746", network.CodeCardEligibilityError},
	// Mastercard.
	{"5105105105105100", network.CodeProvisionDataExpired},
	{"5461310156953048", network.CodeCardVerificationFailed},
	{"5325191087030619", network.CodeCardNotEligible},
	{"5580422612666704", network.CodeCardNotAllowed},
	{"5157204564548129", network.CodeCardDeclined},
	{"5336475987107024", network.CodeProvisionNotAllowed},
	{"5233580618829955", network.CodeCardEligibilityError},
	// Discover.
	{"6011601160116611", network.CodeProvisionDataExpired},
	{"6011168802268945", network.CodeCardVerificationFailed},
	{"6011690151507086", network.CodeCardNotEligible},
	{"6011444770992901", network.CodeCardNotAllowed},
	{"6011760519541711", network.CodeCardDeclined},
	{"6011490740263725", network.CodeProvisionNotAllowed},
	{"6011000990139424", network.CodeCardEligibilityError},
	// American Express.
	{"371449635398431", network.CodeProvisionDataExpired},
	{"370488998077498", network.CodeCardVerificationFailed},
	{"373555735376156", network.CodeCardNotEligible},
	{"378025849667382", network.CodeCardNotAllowed},
	{"348322853530243", network.CodeCardDeclined},
	{"375155165213132", network.CodeProvisionNotAllowed},
	{"348835199015504", network.CodeCardEligibilityError},
}

// Card number prefixes for generated cards: ordinary card BINs that are
// neither the builtin's token BINs nor those of the well-known test cards.
const (
	visaPrefix       = "400060"
	mastercardPrefix = "530060"
)

// serials hands out card serials from a random start, so that runs against
// a shared sandbox do not keep reusing the same cards.
var (
	serialMu sync.Mutex
	serial   = mrand.IntN(1e8)
)

// newPAN returns a fresh 16-digit Luhn-valid card number starting with prefix
// that is none of the special test cards.
func newPAN(t *testing.T, prefix string) string {
	t.Helper()
	for {
		serialMu.Lock()
		serial++
		n := serial
		serialMu.Unlock()
		s := strconv.Itoa(n % 1e9)
		partial := prefix + strings.Repeat("0", 15-len(prefix)-len(s)) + s
		pan := partial + string(card.LuhnDigit(partial))
		if !slices.ContainsFunc(testCards, func(c testCard) bool { return c.pan == pan }) {
			if _, err := card.Validate(pan); err != nil {
				t.Fatalf("generated card number (%d digits) is invalid: %v", len(pan), err)
			}
			return pan
		}
	}
}

// request builds a ProvisionRequest for pan with an expiry three years out.
func request(pan string) network.ProvisionRequest {
	b, _ := card.Validate(pan)
	return network.ProvisionRequest{
		Tenant:   "acme",
		PAN:      pan,
		ExpMonth: "12",
		ExpYear:  strconv.Itoa(time.Now().UTC().Year() + 3),
		Brand:    string(b),
	}
}

// newKey returns a random idempotency key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return "networktest-" + hex.EncodeToString(b[:])
}

// safe renders err with any card number in it masked, so a misbehaving
// service cannot make the suite print card data.
func safe(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	var b strings.Builder
	last := 0
	card.FindNumbersString(s, func(start, end int) {
		b.WriteString(s[last:start])
		b.WriteString("[card number]")
		last = end
	})
	b.WriteString(s[last:])
	return b.String()
}

func provision(t *testing.T, s network.Service, req network.ProvisionRequest) network.Token {
	t.Helper()
	tok, err := s.Provision(t.Context(), req)
	if err != nil {
		t.Fatalf("Provision(%d-digit %s card): %s", len(req.PAN), req.Brand, safe(err))
	}
	return tok
}

func setStatus(t *testing.T, s network.Service, id, status string) {
	t.Helper()
	if err := s.SetStatus(t.Context(), id, status); err != nil {
		t.Fatalf("SetStatus(%s, %s): %s", id, status, safe(err))
	}
}

func get(t *testing.T, s network.Service, id string) network.Token {
	t.Helper()
	tok, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %s", id, safe(err))
	}
	return tok
}

// checkToken checks a freshly provisioned token for the card of req.
func checkToken(t *testing.T, req network.ProvisionRequest, tok network.Token) {
	t.Helper()
	if tok.ID == "" || tok.Status != network.StatusActive {
		t.Errorf("%s card: token id %q, status %q; want an id and ACTIVE", req.Brand, tok.ID, tok.Status)
	}
	switch b, err := card.Validate(tok.DPAN); {
	case err != nil:
		t.Errorf("%s: DPAN (%d digits) is not a valid card number: %s", tok.ID, len(tok.DPAN), safe(err))
	case string(b) != req.Brand:
		t.Errorf("%s: DPAN brand %q, want %q", tok.ID, b, req.Brand)
	case len(tok.DPAN) != len(req.PAN):
		t.Errorf("%s: DPAN has %d digits, the card %d", tok.ID, len(tok.DPAN), len(req.PAN))
	case tok.DPAN == req.PAN:
		t.Errorf("%s: the DPAN is the card number", tok.ID)
	}
	if tok.Brand != req.Brand {
		t.Errorf("%s: Brand %q, want %q", tok.ID, tok.Brand, req.Brand)
	}
	if len(tok.PAR) != 29 || strings.Trim(tok.PAR, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Errorf("%s: PAR has %d chars, want 29 uppercase alphanumerics", tok.ID, len(tok.PAR))
	}
	if err := card.ValidateExpiry(tok.ExpMonth, tok.ExpYear, time.Now().UTC()); err != nil {
		t.Errorf("%s: token expiry %q/%q: %s", tok.ID, tok.ExpMonth, tok.ExpYear, safe(err))
	}
}

func testProvision(t *testing.T, s network.Service) {
	for _, prefix := range []string{visaPrefix, mastercardPrefix} {
		req := request(newPAN(t, prefix))
		t1 := provision(t, s, req)
		checkToken(t, req, t1)
		t2 := provision(t, s, req) // no idempotency key: a second token
		checkToken(t, req, t2)
		if t1.ID == t2.ID && !profile.OneTokenPerCard {
			t.Errorf("%s: two provisions without idempotency key gave the same token %s", req.Brand, t1.ID)
		}
		if t1.ID != t2.ID && profile.OneTokenPerCard {
			t.Errorf("%s: a provider holding one token per card gave %s and %s", req.Brand, t1.ID, t2.ID)
		}
		if t1.PAR != t2.PAR {
			t.Errorf("%s: tokens %s and %s of one card have different PARs", req.Brand, t1.ID, t2.ID)
		}
	}
}

func testTestCards(t *testing.T, s network.Service) {
	for _, c := range testCards {
		req := request(c.pan)
		tok, err := s.Provision(t.Context(), req)
		var ne *network.Error
		switch {
		case err == nil:
			t.Errorf("%s test card (%d digits, want %s): provisioned token %s", req.Brand, len(c.pan), c.code, tok.ID)
		case !errors.As(err, &ne):
			t.Errorf("%s test card (%d digits, want %s): error %T %s, want *network.Error", req.Brand, len(c.pan), c.code, err, safe(err))
		case ne.Code != c.code:
			t.Errorf("%s test card (%d digits): code %q, want %q", req.Brand, len(c.pan), ne.Code, c.code)
		}
		if err != nil && strings.Contains(err.Error(), c.pan) {
			t.Errorf("%s test card (%d digits): the error holds the card number", req.Brand, len(c.pan))
		}
	}
}

func testGet(t *testing.T, s network.Service) {
	for _, prefix := range []string{visaPrefix, mastercardPrefix} {
		tok := provision(t, s, request(newPAN(t, prefix)))
		got := get(t, s, tok.ID)
		if got.ID != tok.ID || got.Status != tok.Status {
			t.Errorf("Get(%s) = id %s, status %s; want %s", tok.ID, got.ID, got.Status, tok.Status)
		}
		if got.DPAN != tok.DPAN {
			t.Errorf("Get(%s): DPAN differs from Provision's (%d vs %d digits)", tok.ID, len(got.DPAN), len(tok.DPAN))
		}
		if got.ExpMonth != tok.ExpMonth || got.ExpYear != tok.ExpYear {
			t.Errorf("Get(%s): expiry %s/%s, want %s/%s", tok.ID, got.ExpMonth, got.ExpYear, tok.ExpMonth, tok.ExpYear)
		}
		if got.PAR != tok.PAR {
			t.Errorf("Get(%s): PAR differs from Provision's", tok.ID)
		}
	}
	if _, err := s.Get(t.Context(), "00000000-0000-4000-8000-000000000000"); !errors.Is(err, network.ErrNotFound) {
		t.Errorf("Get(unknown id): %s, want ErrNotFound", safe(err))
	}
}

func testCryptograms(t *testing.T, s network.Service) {
	visa := provision(t, s, request(newPAN(t, visaPrefix)))
	mc := provision(t, s, request(newPAN(t, mastercardPrefix)))
	for _, tok := range []network.Token{visa, mc} {
		var values [2]string
		for i := range values {
			c, err := s.Cryptogram(t.Context(), network.CryptogramRequest{TokenID: tok.ID})
			if err != nil {
				t.Fatalf("Cryptogram(%s): %s", tok.ID, safe(err))
			}
			if c.Value == "" || len(c.ECI) != 2 {
				t.Errorf("Cryptogram(%s): value of %d chars, ECI %q; want a value and a 2-digit ECI", tok.ID, len(c.Value), c.ECI)
			}
			values[i] = c.Value
		}
		if values[0] == values[1] {
			t.Errorf("Cryptogram(%s): two calls gave the same value", tok.ID)
		}
	}
	mit := func(tok network.Token) network.Cryptogram {
		c, err := s.Cryptogram(t.Context(), network.CryptogramRequest{TokenID: tok.ID, Initiator: network.MerchantInitiated})
		if err != nil {
			t.Fatalf("MIT Cryptogram(%s, %s): %s", tok.ID, tok.Brand, safe(err))
		}
		return c
	}
	if c := mit(mc); c.Value != "" && !profile.NoMITRule {
		t.Errorf("MIT Cryptogram(%s, mastercard): value of %d chars, want none", mc.ID, len(c.Value))
	}
	if c := mit(visa); c.Value == "" {
		t.Errorf("MIT Cryptogram(%s, visa): empty value, want a cryptogram", visa.ID)
	}
}

func testLifecycle(t *testing.T, s network.Service) {
	tok := provision(t, s, request(newPAN(t, visaPrefix)))
	cryptogram := func() error {
		_, err := s.Cryptogram(t.Context(), network.CryptogramRequest{TokenID: tok.ID})
		return err
	}
	wantStatus := func(status string) network.Token {
		t.Helper()
		got := get(t, s, tok.ID)
		if got.Status != status {
			t.Errorf("Get(%s): status %s, want %s", tok.ID, got.Status, status)
		}
		return got
	}

	if profile.NoSuspend {
		var ne *network.Error
		if err := s.SetStatus(t.Context(), tok.ID, network.StatusSuspended); !errors.As(err, &ne) {
			t.Errorf("SetStatus(%s, SUSPENDED) on a provider without suspend: %s, want *network.Error", tok.ID, safe(err))
		}
	} else {
		setStatus(t, s, tok.ID, network.StatusSuspended)
		if err := cryptogram(); !errors.Is(err, network.ErrSuspended) {
			t.Errorf("Cryptogram of a suspended token: %s, want ErrSuspended", safe(err))
		}
		wantStatus(network.StatusSuspended)

		setStatus(t, s, tok.ID, network.StatusActive)
		if err := cryptogram(); err != nil {
			t.Errorf("Cryptogram of a reactivated token: %s", safe(err))
		}
		wantStatus(network.StatusActive)
	}

	setStatus(t, s, tok.ID, network.StatusDeleted)
	gone := func(err error) bool {
		return errors.Is(err, network.ErrDeleted) || profile.DeletedIsGone && errors.Is(err, network.ErrNotFound)
	}
	if err := cryptogram(); !gone(err) {
		t.Errorf("Cryptogram of a deleted token: %s, want ErrDeleted", safe(err))
	}
	if got, err := s.Get(t.Context(), tok.ID); profile.DeletedIsGone && errors.Is(err, network.ErrNotFound) {
		// gone for good, as the provider answers
	} else if err != nil || got.Status != network.StatusDeleted || got.DPAN != "" {
		t.Errorf("Get(deleted %s): status %s, %d-digit DPAN, %s; want DELETED without DPAN", tok.ID, got.Status, len(got.DPAN), safe(err))
	}
	var ne *network.Error
	if err := s.SetStatus(t.Context(), tok.ID, network.StatusActive); !gone(err) && !(profile.NoSuspend && errors.As(err, &ne)) {
		t.Errorf("SetStatus(deleted %s, ACTIVE): %s, want ErrDeleted", tok.ID, safe(err))
	}

	other := provision(t, s, request(newPAN(t, visaPrefix)))
	if err := s.SetStatus(t.Context(), other.ID, "INACTIVE"); !errors.As(err, &ne) {
		t.Errorf("SetStatus(%s, INACTIVE): %s, want *network.Error", other.ID, safe(err))
	}
}

func testIdempotency(t *testing.T, s network.Service) {
	key := newKey()
	req := request(newPAN(t, visaPrefix))
	req.IdempotencyKey = key
	first := provision(t, s, req)
	again := provision(t, s, req)
	if again.ID != first.ID || again.DPAN != first.DPAN {
		t.Errorf("same key twice: tokens %s and %s (same DPAN: %v), want one", first.ID, again.ID, again.DPAN == first.DPAN)
	}

	if !profile.AccountScopedKeys {
		other := req
		other.Tenant = "globex"
		if tok := provision(t, s, other); tok.ID == first.ID {
			t.Errorf("same key for another tenant gave its token %s", tok.ID)
		}

		conflict := request(newPAN(t, visaPrefix))
		conflict.IdempotencyKey = key
		tok, err := s.Provision(t.Context(), conflict)
		var ne *network.Error
		if !errors.As(err, &ne) || ne.Code != network.CodeIdempotencyConflict {
			t.Errorf("same key for another card: token %q, %s; want code %s", tok.ID, safe(err), network.CodeIdempotencyConflict)
		}

		setStatus(t, s, first.ID, network.StatusDeleted)
		fresh := provision(t, s, req)
		if fresh.ID == first.ID || fresh.Status != network.StatusActive {
			t.Errorf("same key after delete: token %s, status %s; want a new ACTIVE token (deleted %s)", fresh.ID, fresh.Status, first.ID)
		}
	}

	// Retries racing each other with one key all get one token.
	raced := request(newPAN(t, mastercardPrefix))
	raced.IdempotencyKey = newKey()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			tok, err := s.Provision(t.Context(), raced)
			if err != nil {
				t.Errorf("concurrent Provision %d: %s", i, safe(err))
			}
			ids[i] = tok.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("concurrent provisions with one key: call %d got %s, call 0 %s", i, id, ids[0])
		}
	}
}

func testConcurrency(t *testing.T, s network.Service) {
	reqs := make([]network.ProvisionRequest, 16)
	for i := range reqs {
		reqs[i] = request(newPAN(t, visaPrefix))
	}
	toks := make([]network.Token, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			tok, err := s.Provision(t.Context(), reqs[i])
			if err != nil {
				t.Errorf("concurrent Provision %d: %s", i, safe(err))
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	ids, dpans := map[string]int{}, map[string]int{}
	for i, tok := range toks {
		if tok.ID == "" {
			continue // reported above
		}
		if j, ok := ids[tok.ID]; ok {
			t.Errorf("cards %d and %d got the same token id %s", j, i, tok.ID)
		}
		if j, ok := dpans[tok.DPAN]; ok {
			t.Errorf("cards %d and %d (tokens %s, %s) got the same DPAN", j, i, toks[j].ID, tok.ID)
		}
		ids[tok.ID], dpans[tok.DPAN] = i, i
	}
}
