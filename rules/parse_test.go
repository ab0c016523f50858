package rules

import (
	"reflect"
	"testing"
	"time"
)

// briefExample is the example of the product brief, verbatim, so the test
// pins the documented format rather than a variant of it.
const briefExample = `# tokengate rules file
inbound:
  checkout:                      # rule set name (used by the Caddyfile: ` + "`tokenize checkout`" + `)
    tenant: demo                 # default "default"
    match:                       # optional
      methods: [POST]
      paths: ["/checkout", "/api/*"]
    token_format: prefixed       # prefixed | uuid | alias | network_token (default prefixed)
    token_prefix: tok_           # only with prefixed (default tok_); [A-Za-z0-9_-]{1,16}
    cvv_ttl: 15m                 # Go duration, 1s..24h (default 15m)
    fields:
      - {kind: pan, json: card.number, form: card_number}
      - {kind: cvv, json: card.cvc, form: card_cvc}
      - {kind: exp_month, json: card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: card.exp_year, form: card_exp_year}
      - {kind: name, json: card.name, form: card_name, keep: true}
outbound:
  psp:
    match: {methods: [POST], paths: ["/payments"]}
    destinations: ["localhost:8082"]   # host:port; at least one
    fallback: pan                # pan | reject (default reject)
    fields:
      - {kind: token, json: payment.card.number, form: card_number}
      - {kind: number, json: payment.card.number, form: card_number}
      - {kind: exp_month, json: payment.card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: payment.card.exp_year, form: card_exp_year}
      - {kind: cryptogram, json: payment.card.cryptogram, form: card_cryptogram}
      - {kind: eci, json: payment.card.eci, form: card_eci}
      - {kind: cvv, json: payment.card.cvc, form: card_cvc}
`

// exampleFile is what briefExample parses to.
func exampleFile(path string) *File {
	return &File{
		Path: path,
		Inbound: []*Inbound{{
			Name:   "checkout",
			Tenant: "demo",
			Match:  Match{Methods: []string{"POST"}, Paths: []string{"/checkout", "/api/*"}},
			Format: FormatPrefixed,
			Prefix: "tok_",
			CVVTTL: 15 * time.Minute, PANGuard: PANReject, ConsentDefault: true, CVVStoreDown: CVVStoreDownReject, MaxCards: DefaultMaxCards,
			Fields: []Field{
				{Kind: KindPAN, JSON: "card.number", Form: "card_number", Line: 12},
				{Kind: KindCVV, JSON: "card.cvc", Form: "card_cvc", Line: 13},
				{Kind: KindExpMonth, JSON: "card.exp_month", Form: "card_exp_month", Line: 14},
				{Kind: KindExpYear, JSON: "card.exp_year", Form: "card_exp_year", Line: 15},
				{Kind: KindName, JSON: "card.name", Form: "card_name", Keep: true, Line: 16},
			},
			Line: 3,
		}},
		Outbound: []*Outbound{{
			Name:         "psp",
			Match:        Match{Methods: []string{"POST"}, Paths: []string{"/payments"}},
			Destinations: []string{"localhost:8082"},
			Fallback:     FallbackPAN, ResponseGuard: GuardRedact, MaxCards: DefaultMaxCards, PANGuard: PANReject,
			Fields: []Field{
				{Kind: KindToken, JSON: "payment.card.number", Form: "card_number", Line: 23},
				{Kind: KindNumber, JSON: "payment.card.number", Form: "card_number", Line: 24},
				{Kind: KindExpMonth, JSON: "payment.card.exp_month", Form: "card_exp_month", Line: 25},
				{Kind: KindExpYear, JSON: "payment.card.exp_year", Form: "card_exp_year", Line: 26},
				{Kind: KindCryptogram, JSON: "payment.card.cryptogram", Form: "card_cryptogram", Line: 27},
				{Kind: KindECI, JSON: "payment.card.eci", Form: "card_eci", Line: 28},
				{Kind: KindCVV, JSON: "payment.card.cvc", Form: "card_cvc", Line: 29},
			},
			Line: 18,
		}},
	}
}

func TestParseBriefExample(t *testing.T) {
	got, err := Parse("rules.yaml", []byte(briefExample))
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, got, exampleFile("rules.yaml"))
}

func TestLoadTestdataExample(t *testing.T) {
	got, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := exampleFile("testdata/example.yaml")
	// Lines differ because of the comments.
	clearLines(got)
	clearLines(want)
	assertFile(t, got, want)
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("testdata/nope.yaml"); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestParseDefaults(t *testing.T) {
	src := `inbound:
  a:
    fields:
      - {kind: pan, json: number}
outbound:
  b:
    destinations: api.PSP.example:443
    fields:
      - {kind: cryptogram, form: c}
      - {kind: token, form: tok}
      - {kind: eci, form: eci}
`
	got, err := Parse("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Path: "r.yaml",
		Inbound: []*Inbound{{
			Name: "a", Tenant: "default", Format: FormatPrefixed, Prefix: "tok_", CVVTTL: 15 * time.Minute, PANGuard: PANReject, ConsentDefault: true, CVVStoreDown: CVVStoreDownReject, MaxCards: DefaultMaxCards,
			Fields: []Field{{Kind: KindPAN, JSON: "number", Line: 4}},
			Line:   2,
		}},
		Outbound: []*Outbound{{
			Name: "b", Destinations: []string{"api.psp.example:443"}, Fallback: FallbackReject, ResponseGuard: GuardRedact, MaxCards: DefaultMaxCards, PANGuard: PANReject,
			Fields: []Field{
				{Kind: KindCryptogram, Form: "c", Line: 9},
				{Kind: KindToken, Form: "tok", Line: 10},
				{Kind: KindNumber, Form: "tok", Line: 10},
				{Kind: KindECI, Form: "eci", Line: 11},
			},
			Line: 6,
		}},
	}
	assertFile(t, got, want)
}

func TestParseOptions(t *testing.T) {
	src := `inbound:
  uuid:
    token_format: uuid
    cvv_ttl: 90s
    fields: [{kind: pan, json: "cards.#.number"}, {kind: cvv, json: "cards.#.cvc", keep: true}]
  dpan:
    token_format: network_token
    fields: [{kind: pan, json: "a\\.b.0.n"}]
  short:
    token_prefix: c_
    cvv_ttl: 1s
    fields: [{kind: pan, form: n}]
outbound:
  short:
    destinations: ["[::1]:8443", "PSP.example:443"]
    fields: [{kind: token, json: t}, {kind: number, json: n}]
`
	f, err := Parse("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := f.InboundSet("uuid")
	if u.Format != FormatUUID || u.Prefix != "" || u.CVVTTL != 90*time.Second || !u.Fields[1].Keep {
		t.Errorf("uuid set = %+v", u)
	}
	if !u.Fields[0].HasWildcard() || !u.Fields[1].HasWildcard() {
		t.Error("cards.#.number has no wildcard")
	}
	d, _ := f.InboundSet("dpan")
	if d.Format != FormatNetworkToken || d.Prefix != "" || d.Fields[0].JSON != `a\.b.0.n` || d.Fields[0].HasWildcard() {
		t.Errorf("dpan set = %+v", d)
	}
	s, _ := f.InboundSet("short")
	if s.Prefix != "c_" || s.CVVTTL != time.Second {
		t.Errorf("short set = %+v", s)
	}
	// The same name may be used in both directions; an explicit number
	// field is kept as written, not doubled.
	o, ok := f.OutboundSet("short")
	if !ok || len(o.Fields) != 2 || o.FieldsOf(KindNumber)[0].JSON != "n" {
		t.Errorf("outbound short = %+v", o)
	}
	if want := []string{"[::1]:8443", "psp.example:443"}; !reflect.DeepEqual(o.Destinations, want) {
		t.Errorf("Destinations = %q, want %q", o.Destinations, want)
	}
}

func TestParseAliases(t *testing.T) {
	src := `inbound:
  a:
    match: &m {methods: [post], paths: [/Pay]}
    fields:
      - &pan {kind: pan, json: card.number}
  b:
    match: *m
    fields: [*pan]
`
	f, err := Parse("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.InboundSet("b")
	want := Match{Methods: []string{"POST"}, Paths: []string{"/pay"}}
	if !reflect.DeepEqual(b.Match, want) || b.Fields[0].JSON != "card.number" {
		t.Errorf("b = %+v", b)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "---\n", "null\n", "inbound:\noutbound: {}\n"} {
		f, err := Parse("r.yaml", []byte(src))
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		assertFile(t, f, &File{Path: "r.yaml"})
	}
}

func TestLookup(t *testing.T) {
	f, err := Parse("r.yaml", []byte(briefExample))
	if err != nil {
		t.Fatal(err)
	}
	in, ok := f.InboundSet("checkout")
	if !ok || in.Name != "checkout" {
		t.Fatal("checkout not found")
	}
	if _, ok := f.InboundSet("psp"); ok {
		t.Error("an outbound set was found inbound")
	}
	out, ok := f.OutboundSet("psp")
	if !ok || out.Name != "psp" {
		t.Fatal("psp not found")
	}
	if _, ok := f.OutboundSet("checkout"); ok {
		t.Error("an inbound set was found outbound")
	}
	if got := in.FieldsOf(KindCVV); len(got) != 1 || got[0].JSON != "card.cvc" {
		t.Errorf("FieldsOf(cvv) = %+v", got)
	}
	if got := in.FieldsOf(KindToken); got != nil {
		t.Errorf("FieldsOf(token) = %+v", got)
	}
	if got := out.FieldsOf(KindECI); len(got) != 1 || got[0].Form != "card_eci" {
		t.Errorf("FieldsOf(eci) = %+v", got)
	}
	var nilFile *File
	if _, ok := nilFile.InboundSet("checkout"); ok {
		t.Error("a nil File has a set")
	}
	if _, ok := nilFile.OutboundSet("psp"); ok {
		t.Error("a nil File has a set")
	}
}

func assertFile(t *testing.T, got, want *File) {
	t.Helper()
	if got.Path != want.Path {
		t.Errorf("Path = %q, want %q", got.Path, want.Path)
	}
	if len(got.Inbound) != len(want.Inbound) || len(got.Outbound) != len(want.Outbound) {
		t.Fatalf("got %d inbound and %d outbound sets, want %d and %d",
			len(got.Inbound), len(got.Outbound), len(want.Inbound), len(want.Outbound))
	}
	for i := range want.Inbound {
		if !reflect.DeepEqual(got.Inbound[i], want.Inbound[i]) {
			t.Errorf("inbound %d:\n got %+v\nwant %+v", i, got.Inbound[i], want.Inbound[i])
		}
	}
	for i := range want.Outbound {
		if !reflect.DeepEqual(got.Outbound[i], want.Outbound[i]) {
			t.Errorf("outbound %d:\n got %+v\nwant %+v", i, got.Outbound[i], want.Outbound[i])
		}
	}
}

func clearLines(f *File) {
	for _, s := range f.Inbound {
		s.Line = 0
		for i := range s.Fields {
			s.Fields[i].Line = 0
		}
	}
	for _, s := range f.Outbound {
		s.Line = 0
		for i := range s.Fields {
			s.Fields[i].Line = 0
		}
	}
}
