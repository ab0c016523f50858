package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// poisonReleasedBodies checks every read buffer given back to the pool is
// zeroed (no card data left for the next request), then fills it with
// 0xFF bytes, which no answer of these tests holds: a string still made
// over a released buffer (a value in the vault's cache, a log field, a
// header, the body forwarded) would read them, and a test comparing what
// the merchant got would see it. It returns how many were released.
func poisonReleasedBodies(t *testing.T) *atomic.Int64 {
	var released atomic.Int64
	var dirty atomic.Bool
	rawBodyReleased = func(b []byte) {
		if bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
			dirty.Store(true)
		}
		for i := range b {
			b[i] = 0xFF
		}
		released.Add(1)
	}
	t.Cleanup(func() {
		rawBodyReleased = nil
		if dirty.Load() {
			t.Error("a read buffer went back to the pool holding bytes of a body")
		}
	})
	return &released
}

// checkoutOf is a checkout of pan by customer: JSON, or the same as a form.
func checkoutOf(form bool, pan, customer string) (contentType, body string) {
	if form {
		return formCT, url.Values{"order": {"o-" + customer}, "card_number": {pan}, "card_exp_month": {"03"},
			"card_exp_year": {"2030"}, "card_cvc": {testCVV}, "card_name": {customer}}.Encode()
	}
	return jsonCT, `{"order":"o-` + customer + `","card":{"number":"` + pan + `","exp_month":"03","exp_year":"2030","cvc":"` + testCVV + `","name":"` + customer + `"}}`
}

// forwarded reads what the merchant got (the test upstream echoes it):
// order, card number (the token), CVV, expiry and name.
func forwarded(form bool, body string) (fields [6]string, err error) {
	if form {
		v, err := url.ParseQuery(body)
		if err != nil {
			return fields, err
		}
		return [6]string{v.Get("order"), v.Get("card_number"), v.Get("card_cvc"), v.Get("card_exp_month"), v.Get("card_exp_year"), v.Get("card_name")}, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return fields, err
	}
	return [6]string{str(m, "order"), str(m, "card.number"), str(m, "card.cvc"), str(m, "card.exp_month"), str(m, "card.exp_year"), str(m, "card.name")}, nil
}

// checkForwarded fails unless body is customer's checkout of pan as the
// merchant must get it: its own order and name, the expected token (set on
// the first call), no CVV, no card number, no byte of a released buffer.
func checkForwarded(form bool, body, pan, customer string, token *string) error {
	if strings.ContainsRune(body, 0xFFFD) || strings.Contains(body, "\xff") || strings.Contains(body, pan) {
		return fmt.Errorf("%s: the merchant got %q", customer, body)
	}
	f, err := forwarded(form, body)
	if err != nil {
		return fmt.Errorf("%s: %v: %q", customer, err, body)
	}
	if f[0] != "o-"+customer || f[5] != customer || f[3] != "03" || f[4] != "2030" || f[2] != "" {
		return fmt.Errorf("%s: the merchant got %q", customer, body)
	}
	if *token == "" {
		*token = f[1]
	}
	if f[1] == "" || f[1] != *token {
		return fmt.Errorf("%s: token %q, want %q", customer, f[1], *token)
	}
	return nil
}

// TestRawBodyReleasedZeroedAndUnread sends new and repeat cards, JSON and
// form, with and without consent, one at a time: each read buffer goes
// back zeroed, and what every request forwards, and what the vault keeps
// (a repeat card gets its first token back), are intact although each
// released buffer is overwritten at once.
func TestRawBodyReleasedZeroedAndUnread(t *testing.T) {
	released := poisonReleasedBodies(t)
	g := startGateway(t, "")
	for i, c := range []struct {
		form bool
		path string
	}{{false, "/checkout"}, {true, "/checkout"}, {false, "/noconsent/checkout"}} {
		pan, customer, token := newPAN(9100+i), fmt.Sprintf("Customer %d", i), ""
		for n := 0; n < 4; n++ { // a new card, then the repeat card
			ct, body := checkoutOf(c.form, pan, customer)
			if c.path == "/noconsent/checkout" {
				token = "" // a short-lived token per payment
			}
			r := g.post(inboundURL+c.path, ct, body)
			if r.status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", c.path, customer, r.status, r.body)
			}
			if err := checkForwarded(c.form, r.body, pan, customer, &token); err != nil {
				t.Fatalf("%s request %d: %v", c.path, n, err)
			}
		}
	}
	if released.Load() < 12 {
		t.Fatalf("%d read buffers recycled for 12 tokenized requests", released.Load())
	}
}

// TestRawBodyConcurrentRequestsNoCrossTalk sends many customers' repeat
// cards at once, JSON and forms, on recycled (and, once released,
// overwritten) read buffers: every merchant gets its own customer's order,
// name and token, never another's.
func TestRawBodyConcurrentRequestsNoCrossTalk(t *testing.T) {
	released := poisonReleasedBodies(t)
	g := startGateway(t, "")
	const customers, rounds = 8, 30
	tokens := make([]string, customers)
	for i := range customers { // stored first: what follows are repeat cards
		ct, body := checkoutOf(i%2 == 1, newPAN(9200+i), fmt.Sprintf("Customer %d", i))
		r := g.post(inboundURL+"/checkout", ct, body)
		if r.status != http.StatusOK {
			t.Fatalf("customer %d: %d %s", i, r.status, r.body)
		}
		if err := checkForwarded(i%2 == 1, r.body, newPAN(9200+i), fmt.Sprintf("Customer %d", i), &tokens[i]); err != nil {
			t.Fatal(err)
		}
	}
	url := g.addr(inboundURL + "/checkout")
	client := g.client()
	var wg sync.WaitGroup
	errs := make(chan error, customers)
	for i := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form, pan, customer, token := i%2 == 1, newPAN(9200+i), fmt.Sprintf("Customer %d", i), tokens[i]
			for range rounds {
				ct, body := checkoutOf(form, pan, customer)
				resp, err := client.Post(url, ct, strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				out, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s: %d %s", customer, resp.StatusCode, out)
				}
				if err == nil {
					err = checkForwarded(form, string(out), pan, customer, &token)
				}
				for j, other := range tokens {
					if err == nil && j != i && strings.Contains(string(out), other) {
						err = fmt.Errorf("%s got customer %d's token: %s", customer, j, out)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if released.Load() < customers*rounds {
		t.Fatalf("%d read buffers recycled for %d tokenized requests", released.Load(), customers*rounds+customers)
	}
}
