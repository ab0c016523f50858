package network

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestPrintingMasks(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	req := ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2030", CVV: "987", Brand: "visa", Name: "Jane Roe"}
	tok, err := b.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	// No time in the line: its digits could spell the CVV.
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	log.Info("x", "req", req, "tok", tok, "c", c)
	for _, s := range []string{
		fmt.Sprint(req, tok, c), fmt.Sprintf("%v %+v %#v %s", req, &req, req, req),
		fmt.Sprintf("%v %+v %#v %s", tok, &tok, tok, tok), fmt.Sprintf("%v %+v %#v", c, &c, c),
		fmt.Sprintf("%v", []any{req, tok, c}), logs.String(),
	} {
		// The token's id is random and shown on purpose; its characters
		// could spell the CVV.
		s = strings.ReplaceAll(s, tok.ID, "<id>")
		assertClean(t, "output", s, req.PAN, req.CVV, req.Name, tok.DPAN, c.Value)
	}
	// The request's expiry is card data too; the token's is shown on purpose.
	assertClean(t, "request output", fmt.Sprintf("%v %+v %#v", req, &req, req), "2030")
	if want := "network.Cryptogram{Value:[redacted] ECI:07}"; c.String() != want {
		t.Errorf("Cryptogram.String() = %q", c.String())
	}
}
