package btapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/btapi"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

const (
	keyAll     = "key_all"
	keyRead    = "key_read"
	keyOther   = "key_other_tenant"
	keyNothing = "key_no_permissions"
	keySuspend = "key_suspend_only"
)

type api struct {
	t   testing.TB
	srv *httptest.Server
	v   vault.Vault
	st  *apitest.Stack
}

func newAPI(t testing.TB) *api {
	t.Helper()
	st := apitest.NewStack(t)
	all := map[btapi.Permission]bool{}
	for _, p := range btapi.Permissions {
		all[p] = true
	}
	principals := map[string]btapi.Principal{
		keyAll:     {Tenant: "acme", Permissions: all},
		keyRead:    {Tenant: "acme", Permissions: map[btapi.Permission]bool{btapi.PermRead: true}},
		keyOther:   {Tenant: "other", Permissions: all},
		keyNothing: {Tenant: "acme", Permissions: map[btapi.Permission]bool{}},
		keySuspend: {Tenant: "acme", Permissions: map[btapi.Permission]bool{btapi.PermSuspend: true}},
	}
	s := &btapi.Server{
		Tokenizer: st.Tokenizer, Vault: st.Vault, Keys: st.Keys, Lifecycle: st.Lifecycle,
		Authenticate: func(k string) (btapi.Principal, bool) { p, ok := principals[k]; return p, ok },
		Idempotency:  btapi.NewIdempotency(1000, 24*time.Hour),
	}
	a := &api{t: t, srv: httptest.NewServer(s.Handler()), v: st.Bolt, st: st}
	t.Cleanup(a.srv.Close)
	return a
}

type reply struct {
	status int
	body   string
	ct     string
}

func (a *api) do(method, path, key, body string, headers ...string) reply {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("BT-API-KEY", key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("Content-Type")}
}

func field(t *testing.T, body, path string) any {
	t.Helper()
	var v any
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func cardBody(pan, month, year string) string {
	return `{"data":{"number":"` + pan + `","expiration_month":` + month + `,"expiration_year":` + year + `,"cvc":"123"},` +
		`"cardholder_info":{"name":"Jonh Doe","address":{"line1":"123 Main Street","postal_code":"90210","city":"Beverly Hills","state_code":"CA","country_code":"USA"}}}`
}

// The whole lifecycle: create (months as strings or integers), the same card
// again (deduplicated), get masked and revealed, cryptograms, suspend,
// resume, delete; no answer holds the card number.
func TestLifecycle(t *testing.T) {
	a := newAPI(t)
	const pan = "4111111111111111"
	created := a.do("POST", "/network-tokens", keyAll, cardBody(pan, `"03"`, `"2030"`))
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	id := field(t, created.body, "id").(string)
	if strings.Contains(created.body, pan) || field(t, created.body, "status") != "active" ||
		field(t, created.body, "network_token.brand") != "visa" || field(t, created.body, "_extras") != nil {
		t.Fatalf("create answer: %s", created.body)
	}
	if n := field(t, created.body, "data.number").(string); !strings.HasPrefix(n, "XXXXXXXXXXXX") || len(n) != 16 {
		t.Errorf("data.number not masked: %d characters", len(n))
	}
	if m := field(t, created.body, "data.expiration_month"); m == nil || m.(json.Number).String() == "" {
		t.Errorf("expiration_month is not a number: %v", m)
	}
	again := a.do("POST", "/network-tokens", keyAll, cardBody(pan, "3", "2030"))
	if again.status != http.StatusOK || field(t, again.body, "id") != id || field(t, again.body, "_extras.deduplicated") != true {
		t.Fatalf("same card again: %d %s", again.status, again.body)
	}

	masked := a.do("GET", "/network-tokens/"+id, keyRead, "")
	revealed := a.do("GET", "/network-tokens/"+id, keyAll, "")
	dpan := field(t, revealed.body, "data.number").(string)
	if masked.status != 200 || revealed.status != 200 || strings.Contains(masked.body, dpan) || len(dpan) != 16 || dpan == pan ||
		!strings.HasSuffix(dpan, field(t, masked.body, "network_token.last4").(string)) {
		t.Fatalf("get: %d %d", masked.status, revealed.status)
	}

	c1 := a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, "")
	c2 := a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, "")
	if c1.status != 200 || field(t, c1.body, "eci") != "07" || field(t, c1.body, "cryptogram") == field(t, c2.body, "cryptogram") {
		t.Fatalf("cryptograms: %d %s", c1.status, c1.body)
	}

	if r := a.do("PUT", "/network-tokens/"+id+"/suspend", keyAll, ""); r.status != 200 || field(t, r.body, "status") != "suspended" {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	if r := a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, ""); r.status != http.StatusUnprocessableEntity || field(t, r.body, "title") != "NETWORK_TOKEN_SUSPENDED" {
		t.Fatalf("cryptogram while suspended: %d %s", r.status, r.body)
	}
	if r := a.do("PUT", "/network-tokens/"+id+"/resume", keyAll, ""); r.status != 200 || field(t, r.body, "status") != "active" {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	ntID := a.record(id).Network.ID
	if r := a.do("DELETE", "/network-tokens/"+id, keyAll, ""); r.status != http.StatusNoContent || r.body != "" {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	// A delete erases the card (unlike Basis Theory, which keeps the
	// object readable as inactive): the network token is deleted at its
	// service, the record is gone, and the id answers 404 to every call,
	// a second delete included.
	if _, err := a.st.Bolt.Get(context.Background(), "acme", id); err == nil {
		t.Error("the record is still in the vault after the delete")
	}
	if nt, err := a.st.Builtin.Get(context.Background(), ntID); err != nil || nt.Status != "DELETED" {
		t.Errorf("network token after the delete: %+v %v", nt, err)
	}
	for _, r := range []reply{
		a.do("GET", "/network-tokens/"+id, keyAll, ""),
		a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, ""),
		a.do("PUT", "/network-tokens/"+id+"/resume", keyAll, ""),
		a.do("DELETE", "/network-tokens/"+id, keyAll, ""),
	} {
		if r.status != http.StatusNotFound || r.ct != "application/problem+json" {
			t.Errorf("after delete: %d %s, want 404", r.status, r.body)
		}
	}
	// The card presented again after it was deleted is a new card, with a
	// new network token.
	again = a.do("POST", "/network-tokens", keyAll, cardBody(pan, "3", "2030"))
	if again.status != http.StatusCreated || field(t, again.body, "status") != "active" || field(t, again.body, "id") == id {
		t.Fatalf("create after delete: %d %s", again.status, again.body)
	}
}

// A network token its service deleted (a webhook, or a cryptogram refused
// as deleted) is inactive for good: readable, not usable. A DELETE then
// erases the card all the same.
func TestDeletedByServiceThenDelete(t *testing.T) {
	a := newAPI(t)
	created := a.do("POST", "/network-tokens", keyAll, cardBody("4111111111111111", "3", "2030"))
	id, _ := field(t, created.body, "id").(string)
	if created.status != http.StatusCreated || id == "" {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	if err := a.st.Builtin.SetStatus(context.Background(), a.record(id).Network.ID, "DELETED"); err != nil {
		t.Fatal(err)
	}
	// The cryptogram call learns it from the service.
	for _, r := range []reply{
		a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, ""),
		a.do("PUT", "/network-tokens/"+id+"/resume", keyAll, ""),
	} {
		if r.status != http.StatusUnprocessableEntity || field(t, r.body, "title") != "NETWORK_TOKEN_INACTIVE" {
			t.Errorf("deleted at its service: %d %s", r.status, r.body)
		}
	}
	if r := a.do("GET", "/network-tokens/"+id, keyAll, ""); r.status != 200 || field(t, r.body, "status") != "inactive" ||
		!strings.HasPrefix(field(t, r.body, "data.number").(string), "XXXX") {
		t.Errorf("get of a token deleted at its service: %d %s", r.status, r.body)
	}
	if r := a.do("DELETE", "/network-tokens/"+id, keyAll, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/network-tokens/"+id, keyAll, ""); r.status != http.StatusNotFound {
		t.Errorf("get after delete: %d %s", r.status, r.body)
	}
}

// record reads a record from the backend under the stack.
func (a *api) record(id string) vault.Record {
	a.t.Helper()
	rec, err := a.st.Bolt.Get(context.Background(), "acme", id)
	if err != nil {
		a.t.Fatal(err)
	}
	return rec
}

func TestAuthAndTenants(t *testing.T) {
	a := newAPI(t)
	created := a.do("POST", "/network-tokens", keyAll, cardBody("5555555555554444", "12", "2031"))
	id := field(t, created.body, "id").(string)
	for _, tc := range []struct {
		name, method, path, key string
		status                  int
	}{
		{"no key", "GET", "/network-tokens/" + id, "", 401},
		{"wrong key", "GET", "/network-tokens/" + id, "nope", 401},
		{"no permission", "GET", "/network-tokens/" + id, keyNothing, 403},
		{"read cannot create", "POST", "/network-tokens", keyRead, 403},
		{"read cannot cryptogram", "POST", "/network-tokens/" + id + "/cryptogram", keyRead, 403},
		{"read cannot delete", "DELETE", "/network-tokens/" + id, keyRead, 403},
		{"another tenant's id is unknown", "GET", "/network-tokens/" + id, keyOther, 404},
		{"another tenant cannot cryptogram", "POST", "/network-tokens/" + id + "/cryptogram", keyOther, 404},
		{"unknown id", "GET", "/network-tokens/00000000-0000-0000-0000-000000000000", keyAll, 404},
	} {
		r := a.do(tc.method, tc.path, tc.key, cardBody("4111111111111111", "3", "2030"))
		if r.status != tc.status || r.ct != "application/problem+json" || field(t, r.body, "status").(json.Number).String() == "" {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
	}
	other := a.do("GET", "/network-tokens/"+id, keyOther, "")
	unknown := a.do("GET", "/network-tokens/00000000-0000-0000-0000-000000000000", keyOther, "")
	if other.body != unknown.body {
		t.Errorf("another tenant's id answers differently from an unknown one:\n%s\n%s", other.body, unknown.body)
	}
}

// Bad input gets 400 naming the field, never echoing it, and never a 500.
func TestValidation(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		name, body, field string
	}{
		{"Luhn", cardBody("4111111111111112", "3", "2030"), "data.number"},
		{"month", cardBody("4111111111111111", "13", "2030"), "data.expiration_month"},
		{"expired", cardBody("4111111111111111", "1", "2020"), "data.expiration_year"},
		{"month as float", cardBody("4111111111111111", "3.5", "2030"), "data.expiration_month"},
		{"missing number", `{"data":{"expiration_month":3,"expiration_year":2030}}`, "data.number"},
		{"no source", `{"cardholder_info":{"name":"x"}}`, "data"},
		{"two sources", `{"data":{"number":"4111111111111111"},"token_id":"x"}`, "data"},
		{"token intent", `{"token_intent_id":"c06d0789-0a38-40be-b7cc-c28a718f76f1"}`, "token_intent_id"},
		{"not JSON", `{"data":`, "body"},
		{"duplicate member", `{"data":{"number":"4111111111111111","number":"5555555555554444","expiration_month":3,"expiration_year":2030}}`, "body"},
		{"empty", ``, "body"},
	} {
		r := a.do("POST", "/network-tokens", keyAll, tc.body)
		errs, _ := field(t, r.body, "errors").(map[string]any)
		if r.status != 400 || errs[tc.field] == nil {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, r.status, r.body, tc.field)
		}
		for _, secret := range []string{"4111111111111112", "5555555555554444"} {
			if strings.Contains(r.body, secret) {
				t.Errorf("%s: the answer echoes the card number", tc.name)
			}
		}
	}
	big := `{"data":{"number":"` + strings.Repeat("4", 70_000) + `"}}`
	if r := a.do("POST", "/network-tokens", keyAll, big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", r.status)
	}
}

// The seed's test PANs fail with their documented titles.
func TestTestCards(t *testing.T) {
	a := newAPI(t)
	for pan, title := range map[string]string{
		"4012888888881881": "PROVISION_DATA_EXPIRED",
		"5461310156953048": "CARD_VERIFICATION_FAILED",
		"6011690151507086": "CARD_NOT_ELIGIBLE",
		"378025849667382":  "CARD_NOT_ALLOWED",
		"4929544240318920": "CARD_DECLINED",
		"5336475987107024": "PROVISION_NOT_ALLOWED",
		"348835199015504":  "CARD_ELIGIBILITY_ERROR",
	} {
		cvc := `"123"`
		if strings.HasPrefix(pan, "3") {
			cvc = `"1234"`
		}
		body := `{"data":{"number":"` + pan + `","expiration_month":"03","expiration_year":"2030","cvc":` + cvc + `}}`
		r := a.do("POST", "/network-tokens", keyAll, body)
		if r.status != http.StatusUnprocessableEntity || field(t, r.body, "title") != title || strings.Contains(r.body, pan) {
			t.Errorf("%s…: %d %s, want 422 %s", pan[:6], r.status, r.body, title)
		}
	}
}

// BT-IDEMPOTENCY-KEY replays the first success; a failure is not kept.
func TestIdempotencyKey(t *testing.T) {
	a := newAPI(t)
	first := a.do("POST", "/network-tokens", keyAll, cardBody("4111111111111111", "3", "2030"), "BT-IDEMPOTENCY-KEY", "k1")
	id := field(t, first.body, "id").(string)
	// Cryptograms are secrets: never kept for replay, a retry gets a fresh one.
	c1 := a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, "", "BT-IDEMPOTENCY-KEY", "c1")
	c2 := a.do("POST", "/network-tokens/"+id+"/cryptogram", keyAll, "", "BT-IDEMPOTENCY-KEY", "c1")
	if c1.status != 200 || c2.status != 200 || c1.body == c2.body {
		t.Fatalf("a cryptogram was replayed: %d %d", c1.status, c2.status)
	}
	// An answer is replayed only to the API key it was made for: a key
	// without reveal never gets a revealed number through another's key.
	s1 := a.do("PUT", "/network-tokens/"+id+"/suspend", keyAll, "", "BT-IDEMPOTENCY-KEY", "s1")
	s2 := a.do("PUT", "/network-tokens/"+id+"/suspend", keySuspend, "", "BT-IDEMPOTENCY-KEY", "s1")
	revealed := field(t, s1.body, "data.number").(string)
	if s1.status != 200 || s2.status != 200 || strings.Contains(s2.body, revealed) || !strings.HasPrefix(field(t, s2.body, "data.number").(string), "XXXX") {
		t.Fatalf("a replay crossed API keys: %d %d", s1.status, s2.status)
	}
	a.do("PUT", "/network-tokens/"+id+"/resume", keyAll, "")
	bad := a.do("POST", "/network-tokens", keyAll, cardBody("4111111111111112", "3", "2030"), "BT-IDEMPOTENCY-KEY", "k2")
	good := a.do("POST", "/network-tokens", keyAll, cardBody("5555555555554444", "3", "2030"), "BT-IDEMPOTENCY-KEY", "k2")
	if bad.status != 400 || good.status != http.StatusCreated {
		t.Fatalf("a failure was replayed: %d then %d", bad.status, good.status)
	}
	// Concurrent duplicates: one runs, the others get the answer or 409.
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = a.do("POST", "/network-tokens", keyAll, cardBody("6011111111111117", "3", "2030"), "BT-IDEMPOTENCY-KEY", "k3").status
		})
	}
	wg.Wait()
	for _, s := range statuses {
		if s != http.StatusCreated && s != http.StatusConflict {
			t.Errorf("concurrent duplicate: %d", s)
		}
	}
}

// token_id creates the network token of a card tokenized earlier.
func TestFromTokenID(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	created := a.do("POST", "/network-tokens", keyAll, cardBody("4111111111111111", "3", "2030"))
	id := field(t, created.body, "id").(string)
	r := a.do("POST", "/network-tokens", keyAll, `{"token_id":"`+id+`"}`)
	if r.status != 200 || field(t, r.body, "token_id") != id || field(t, r.body, "_extras.deduplicated") != true {
		t.Fatalf("from token_id: %d %s", r.status, r.body)
	}
	other := a.do("POST", "/network-tokens", keyOther, `{"token_id":"`+id+`"}`)
	unknown := a.do("POST", "/network-tokens", keyOther, `{"token_id":"tok_unknown"}`)
	if other.status != 404 || other.body != unknown.body {
		t.Fatalf("another tenant's token_id: %d %s", other.status, other.body)
	}
	// A card tokenized inbound (vault-only, no expiry) cannot become a
	// network token, and says why.
	ks := vaulttest.Keys(t)
	rec := vaulttest.Sample("acme", "tok_vault_only", ks.Fingerprint("acme", "4242424242424242"))
	rec.ExpMonth, rec.ExpYear, rec.Network = "", "", vault.NetworkToken{Error: "no_expiry"}
	var err error
	if rec.Sealed, err = ks.Seal("acme", rec.Fingerprint, rec.Token, keys.Secrets{PAN: "4242424242424242"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.v.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if r := a.do("POST", "/network-tokens", keyAll, `{"token_id":"tok_vault_only"}`); r.status != 422 || field(t, r.body, "title") != "CARD_DATA_MISSING" {
		t.Fatalf("a token without expiry: %d %s", r.status, r.body)
	}
}

// Basis Theory's current success PANs (its docs changed them in 2025) give
// network tokens too, as the seed's older ones do.
func TestCurrentSuccessCards(t *testing.T) {
	a := newAPI(t)
	for _, pan := range []string{"4000000000000002", "5100000000000008", "6011000000000004", "370000000000002"} {
		cvc := `"123"`
		if strings.HasPrefix(pan, "3") {
			cvc = `"1234"`
		}
		r := a.do("POST", "/network-tokens", keyAll, `{"data":{"number":"`+pan+`","expiration_month":3,"expiration_year":2030,"cvc":`+cvc+`}}`)
		if r.status != http.StatusCreated || field(t, r.body, "status") != "active" {
			t.Errorf("%s…: %d %s", pan[:6], r.status, r.body)
		}
	}
}

// FuzzCreate: no body makes the API answer 500 or panic, and no answer
// echoes a card number that was sent.
func FuzzCreate(f *testing.F) {
	f.Add(cardBody("4111111111111111", `"03"`, `"2030"`))
	f.Add(`{"token_id":"x"}`)
	f.Add(`{"data":{"number":1e400}}`)
	f.Add(`[]`)
	a := newAPI(f)
	f.Fuzz(func(t *testing.T, body string) {
		a.t = t
		r := a.do("POST", "/network-tokens", keyAll, body)
		if r.status >= 500 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// A member name that is a card number does not come back in the error.
func TestNoEcho(t *testing.T) {
	a := newAPI(t)
	r := a.do("POST", "/network-tokens", keyAll, `{"data":{"4111111111111111":1,"4111111111111111":2}}`)
	if r.status != 400 || strings.Contains(r.body, "4111111111111111") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
