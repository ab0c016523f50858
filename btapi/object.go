package btapi

import (
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// object is Basis Theory's network token object (seed 003), built from a
// vault record. The network token is the record's: `id` is the record's
// token, so a card tokenized inbound and a network token created here for
// the same card are one record.
type object struct {
	ID           string       `json:"id"`
	TenantID     string       `json:"tenant_id"`
	Data         dataView     `json:"data"`
	NetworkToken cardDetails  `json:"network_token"`
	Card         cardView     `json:"card"`
	PAR          string       `json:"par"`
	Status       string       `json:"status"`
	CreatedBy    string       `json:"created_by"`
	CreatedAt    string       `json:"created_at"`
	ModifiedAt   string       `json:"modified_at"`
	TokenID      string       `json:"token_id,omitempty"`
	Extras       *objectExtra `json:"_extras,omitempty"`
}

// dataView is the network token number, masked unless revealed.
type dataView struct {
	Number          string `json:"number"`
	ExpirationMonth int    `json:"expiration_month"`
	ExpirationYear  int    `json:"expiration_year"`
}

// cardDetails describes the network token's BIN. tokengate has no BIN
// database: what it cannot know (funding, issuer, country, segment) is null,
// as Basis Theory answers for a BIN its data does not cover.
type cardDetails struct {
	BIN             string         `json:"bin"`
	Last4           string         `json:"last4"`
	ExpirationMonth int            `json:"expiration_month"`
	ExpirationYear  int            `json:"expiration_year"`
	Brand           string         `json:"brand"`
	Funding         *string        `json:"funding"`
	Issuer          issuer         `json:"issuer"`
	IssuerCountry   *issuerCountry `json:"issuer_country"`
	Segment         *string        `json:"segment"`
	Additional      []additional   `json:"additional"`
}

type issuer struct {
	Country *string `json:"country"`
	Name    *string `json:"name"`
}

type issuerCountry struct {
	Alpha2  string `json:"alpha2"`
	Name    string `json:"name"`
	Numeric string `json:"numeric"`
}

type additional struct {
	Brand   string `json:"brand"`
	Funding string `json:"funding"`
	Issuer  issuer `json:"issuer"`
}

// cardView is the underlying card: last four digits and expiry only.
type cardView struct {
	Last4           string `json:"last4"`
	ExpirationMonth int    `json:"expiration_month"`
	ExpirationYear  int    `json:"expiration_year"`
}

type objectExtra struct {
	Deduplicated bool `json:"deduplicated"`
}

// brandNames are Basis Theory's names for card brands.
var brandNames = map[card.Brand]string{
	card.Amex:       "american-express",
	card.Diners:     "diners-club",
	card.Discover:   "discover",
	card.JCB:        "jcb",
	card.Mastercard: "mastercard",
	card.Mir:        "mir",
	card.UnionPay:   "unionpay",
	card.Visa:       "visa",
}

func brandName(b string) string {
	if name, ok := brandNames[card.Brand(b)]; ok {
		return name
	}
	return b
}

// statusName is the network token status as Basis Theory spells it.
func statusName(s string) string {
	switch s {
	case network.StatusActive:
		return "active"
	case network.StatusSuspended:
		return "suspended"
	}
	return "inactive"
}

// tenantNamespace derives stable UUIDs from tenant names: Basis Theory's
// tenant_id and created_by are UUIDs, tokengate's tenants are names.
var tenantNamespace = uuid.MustParse("6f0ab4d2-4f0e-5c3a-9a8d-7b7c2e1f0a11")

// TenantID is the tenant_id tokengate reports for a tenant.
func TenantID(tenant string) string {
	return uuid.NewSHA1(tenantNamespace, []byte("tenant:"+tenant)).String()
}

// applicationID is created_by: the tenant's API application. tokengate does
// not record which key created a record, so every key of a tenant is one
// application.
func applicationID(tenant string) string {
	return uuid.NewSHA1(tenantNamespace, []byte("application:"+tenant)).String()
}

// timeFormat is .NET's round-trip format, as in the seed's samples
// ("2025-05-07T17:04:06.3338559+00:00").
const timeFormat = "2006-01-02T15:04:05.9999999-07:00"

func number(s string) int {
	n, _ := strconv.Atoi(strings.TrimLeft(s, "0"))
	return n
}

// render builds the object for rec. dpan is the network token number: shown
// whole when reveal is set, else masked to its last four digits.
func render(rec vault.Record, dpan string, reveal bool) object {
	nt := rec.Network
	shown := dpan
	if !reveal {
		shown = strings.Repeat("X", max(len(dpan)-4, 0)) + nt.Last4
	}
	bin := ""
	if len(dpan) >= 8 {
		bin = dpan[:6]
		if len(dpan) >= 16 {
			bin = dpan[:8]
		}
	}
	return object{
		ID:       rec.Token,
		TenantID: TenantID(rec.Tenant),
		Data:     dataView{Number: shown, ExpirationMonth: number(nt.ExpMonth), ExpirationYear: expYear(nt.ExpYear)},
		NetworkToken: cardDetails{
			BIN: bin, Last4: nt.Last4, ExpirationMonth: number(nt.ExpMonth), ExpirationYear: expYear(nt.ExpYear),
			Brand: brandName(rec.Brand), Additional: []additional{},
		},
		Card:       cardView{Last4: rec.Last4, ExpirationMonth: number(rec.ExpMonth), ExpirationYear: expYear(rec.ExpYear)},
		PAR:        nt.PAR,
		Status:     statusName(nt.Status),
		CreatedBy:  applicationID(rec.Tenant),
		CreatedAt:  rec.CreatedAt.UTC().Format(timeFormat),
		ModifiedAt: rec.UpdatedAt.UTC().Format(timeFormat),
	}
}

// expYear is a four-digit year from a two- or four-digit one.
func expYear(s string) int {
	y := number(s)
	if y > 0 && y < 100 {
		y += 2000
	}
	return y
}
