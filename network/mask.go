package network

import (
	"log/slog"
)

// The types of network.go carry PANs, CVVs, DPANs and cryptograms in plain
// string fields, so printing one with fmt (%v, %+v, %#v), zap.Any (which
// prefers fmt.Stringer to reflection) or slog would leak them. These methods
// make every such rendering show only what may be shown.

const masked = "[redacted]" // the text, as logs have always shown it

// String describes the request by brand only: PAN, CVV, expiry and name are
// all cardholder data and are masked.
func (r ProvisionRequest) String() string {
	return "network.ProvisionRequest{Brand:" + r.Brand + " PAN:" + masked + " CVV:" + masked +
		" Exp:" + masked + " Name:" + masked + "}"
}

// GoString is String, so that %#v masks too.
func (r ProvisionRequest) GoString() string { return r.String() }

// LogValue makes slog log the request masked.
func (r ProvisionRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("brand", r.Brand), slog.String("pan", masked))
}

// String shows the token's id, brand, status, PAR and expiry; the DPAN is
// masked, as it is a card number in its own right.
func (t Token) String() string {
	return "network.Token{ID:" + t.ID + " Brand:" + t.Brand + " Status:" + t.Status + " PAR:" + t.PAR +
		" Exp:" + t.ExpMonth + "/" + t.ExpYear + " DPAN:" + masked + "}"
}

// GoString is String, so that %#v masks too.
func (t Token) GoString() string { return t.String() }

// LogValue makes slog log the token without its DPAN.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", t.ID), slog.String("brand", t.Brand),
		slog.String("status", t.Status), slog.String("par", t.PAR), slog.String("dpan", masked))
}

// String shows the ECI only: a cryptogram authorizes a payment.
func (c Cryptogram) String() string {
	return "network.Cryptogram{Value:" + masked + " ECI:" + c.ECI + "}"
}

// GoString is String, so that %#v masks too.
func (c Cryptogram) GoString() string { return c.String() }

// LogValue makes slog log the cryptogram without its value.
func (c Cryptogram) LogValue() slog.Value {
	return slog.GroupValue(slog.String("value", masked), slog.String("eci", c.ECI))
}

// Interface guards.
var (
	_ slog.LogValuer = ProvisionRequest{}
	_ slog.LogValuer = Token{}
	_ slog.LogValuer = Cryptogram{}
)
