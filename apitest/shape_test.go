package apitest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestShape(t *testing.T) {
	const nested = `{"id":"x","network_token":{"bin":"433561","expiration_month":12,"issuer":{"country":"US","name":"BANK"},"additional":[{"brand":"star","issuer":{"country":"US"}}]},"ok":true}`
	tests := []struct {
		name     string
		sample   string
		got      string
		optional []string
		want     []string
	}{
		{name: "identical", sample: nested, got: nested},
		{name: "same shape different values", sample: nested,
			got: `{"id":"y","network_token":{"bin":"411111","expiration_month":1,"issuer":{"country":"FR","name":"B"},"additional":[]},"ok":false}`},
		{name: "key order and whitespace do not matter", sample: `{"a":1,"b":"x"}`, got: "{\n \"b\" : \"y\",\n \"a\" : 2\n}\n"},
		{name: "missing top-level key", sample: `{"a":1,"b":"x"}`, got: `{"a":1}`,
			want: []string{"b: missing (expected string)"}},
		{name: "missing nested key", sample: nested,
			got:  `{"id":"x","network_token":{"bin":"433561","expiration_month":12,"issuer":{"name":"BANK"},"additional":[]},"ok":true}`,
			want: []string{"network_token.issuer.country: missing (expected string)"}},
		{name: "missing nested object", sample: nested,
			got:  `{"id":"x","network_token":{"bin":"433561","expiration_month":12,"additional":[]},"ok":true}`,
			want: []string{"network_token.issuer: missing (expected object)"}},
		{name: "quoted number is not a number", sample: `{"expiration_month":12}`, got: `{"expiration_month":"12"}`,
			want: []string{"expiration_month: type mismatch: expected number, got string"}},
		{name: "number is not a string", sample: `{"bin":"433561"}`, got: `{"bin":433561}`,
			want: []string{"bin: type mismatch: expected string, got number"}},
		{name: "bool is not a string", sample: `{"ok":true}`, got: `{"ok":"true"}`,
			want: []string{"ok: type mismatch: expected bool, got string"}},
		{name: "null in got is not a string", sample: `{"a":"x"}`, got: `{"a":null}`,
			want: []string{"a: type mismatch: expected string, got null"}},
		{name: "object vs array", sample: `{"a":{"b":1}}`, got: `{"a":[{"b":1}]}`,
			want: []string{"a: type mismatch: expected object, got array"}},
		{name: "root type mismatch", sample: `{"a":1}`, got: `[{"a":1}]`,
			want: []string{"(root): type mismatch: expected object, got array"}},
		{name: "null sample accepts string", sample: `{"x":null}`, got: `{"x":"s"}`},
		{name: "null sample accepts number", sample: `{"x":null}`, got: `{"x":1.5}`},
		{name: "null sample accepts bool", sample: `{"x":null}`, got: `{"x":false}`},
		{name: "null sample accepts object", sample: `{"x":null}`, got: `{"x":{"y":[1]}}`},
		{name: "null sample accepts array", sample: `{"x":null}`, got: `{"x":[]}`},
		{name: "null sample accepts null", sample: `{"x":null}`, got: `{"x":null}`},
		{name: "null sample key still required", sample: `{"x":null,"y":1}`, got: `{"y":1}`,
			want: []string{"x: missing (expected null)"}},
		{name: "null sample key may be optional", sample: `{"x":null,"y":1}`, got: `{"y":1}`, optional: []string{"x"}},
		{name: "optional absent", sample: `{"token_id":"u","id":"i"}`, got: `{"id":"i"}`, optional: []string{"token_id"}},
		{name: "optional present with wrong type", sample: `{"token_id":"u","id":"i"}`, got: `{"token_id":7,"id":"i"}`,
			optional: []string{"token_id"},
			want:     []string{"token_id: type mismatch: expected string, got number"}},
		{name: "optional present with wrong nested type", sample: `{"o":{"a":"x"}}`, got: `{"o":{"a":false}}`,
			optional: []string{"o"},
			want:     []string{"o.a: type mismatch: expected string, got bool"}},
		{name: "optional does not excuse other keys", sample: `{"token_id":"u","id":"i"}`, got: `{}`,
			optional: []string{"token_id"},
			want:     []string{"id: missing (expected string)"}},
		{name: "optional is a full path, not a key name", sample: `{"a":{"id":"x"},"id":"y"}`, got: `{"a":{}}`,
			optional: []string{"id"},
			want:     []string{"a.id: missing (expected string)"}},
		{name: "nested optional absent", sample: nested,
			got:      `{"id":"x","network_token":{"bin":"433561","expiration_month":12,"issuer":{"country":"US","name":"BANK"}},"ok":true}`,
			optional: []string{"network_token.additional"}},
		{name: "nested optional present with wrong type", sample: nested,
			got:      `{"id":"x","network_token":{"bin":"433561","expiration_month":12,"issuer":{"country":"US","name":"BANK"},"additional":{}},"ok":true}`,
			optional: []string{"network_token.additional"},
			want:     []string{"network_token.additional: type mismatch: expected array, got object"}},
		{name: "array of objects all match", sample: nested,
			got: `{"id":"x","network_token":{"bin":"4","expiration_month":1,"issuer":{"country":"US","name":"B"},"additional":[{"brand":"a","issuer":{"country":"US"}},{"brand":"b","issuer":{"country":"GB"}}]},"ok":true}`},
		{name: "array of objects second element incomplete", sample: nested,
			got:  `{"id":"x","network_token":{"bin":"4","expiration_month":1,"issuer":{"country":"US","name":"B"},"additional":[{"brand":"a","issuer":{"country":"US"}},{"brand":"b","issuer":{}}]},"ok":true}`,
			want: []string{"network_token.additional[1].issuer.country: missing (expected string)"}},
		{name: "array element wrong type", sample: `{"additional":[{"brand":"a"}]}`, got: `{"additional":[{"brand":"b"},"x",{"brand":1}]}`,
			want: []string{
				"additional[1]: type mismatch: expected object, got string",
				"additional[2].brand: type mismatch: expected string, got number",
			}},
		{name: "optional key inside array elements", sample: `{"additional":[{"brand":"a","issuer":{"country":"US"}}]}`,
			got: `{"additional":[{"brand":"b"},{"brand":"c","issuer":{"country":"US"}}]}`, optional: []string{"additional.issuer"}},
		{name: "optional key inside array elements, bracket form", sample: `{"additional":[{"brand":"a","issuer":{"country":"US"}}]}`,
			got: `{"additional":[{"brand":"b"}]}`, optional: []string{"additional[].issuer"}},
		{name: "array of arrays", sample: `{"m":[[1]]}`, got: `{"m":[[1,2],["3"]]}`,
			want: []string{"m[1][0]: type mismatch: expected number, got string"}},
		{name: "empty sample array accepts any array", sample: `{"a":[]}`, got: `{"a":[1,"x",{"b":null}]}`},
		{name: "empty got array matches", sample: `{"a":[{"b":1}]}`, got: `{"a":[]}`},
		{name: "several problems in sorted path order", sample: `{"z":1,"a":"x","m":{"k":true}}`, got: `{"m":{"k":1}}`,
			want: []string{
				"a: missing (expected string)",
				"m.k: type mismatch: expected bool, got number",
				"z: missing (expected number)",
			}},
		{name: "extra keys are not shape problems", sample: `{"a":1}`, got: `{"a":1,"b":2,"c":{"d":3}}`},
		{name: "invalid got", sample: `{"a":1}`, got: `{"a":1`,
			want: []string{"got: invalid JSON: unexpected end of input"}},
		{name: "invalid sample", sample: `{"a":1,}`, got: `{"a":1}`,
			want: []string{"sample: invalid JSON: syntax error at byte offset 8"}},
		{name: "empty got", sample: `{"a":1}`, got: ``,
			want: []string{"got: invalid JSON: empty input"}},
		{name: "trailing data in got", sample: `{"a":1}`, got: `{"a":1} {"a":2}`,
			want: []string{"got: invalid JSON: trailing data after the value ending at byte offset 7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Shape([]byte(tc.sample), []byte(tc.got), tc.optional...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Shape problems\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// Problems must never echo values: values may be card data.
func TestShapeDoesNotLeakValues(t *testing.T) {
	const pan = "4111111111111111"
	cases := []struct{ sample, got string }{
		{`{"number":1}`, `{"number":"` + pan + `"}`},
		{`{"number":"x"}`, `{"number":` + pan + `}`},
		{`{"number":"x"}`, `{"number":"` + pan + `"x}`},
		{`{"number":"x"}`, `{"number":` + pan + `x}`},
		{`{"number":"x"}`, `{"number":"` + pan},
		{`{"number":"x","cvc":"1"}`, `{"number":["` + pan + `"]}`},
	}
	for i, c := range cases {
		probs := Shape([]byte(c.sample), []byte(c.got))
		if len(probs) == 0 {
			t.Errorf("case %d: expected a problem", i)
		}
		probs = append(probs, ExtraKeys([]byte(c.sample), []byte(c.got))...)
		for _, p := range probs {
			if strings.Contains(p, "4111") {
				t.Errorf("case %d: problem leaks the value: %q", i, p)
			}
		}
	}
}

func TestExtraKeys(t *testing.T) {
	tests := []struct {
		name   string
		sample string
		got    string
		want   []string
	}{
		{name: "none", sample: `{"a":1,"b":{"c":"x"}}`, got: `{"a":2,"b":{"c":"y"}}`},
		{name: "missing keys are not extra", sample: `{"a":1,"b":2}`, got: `{"a":1}`},
		{name: "root", sample: `{"a":1}`, got: `{"a":1,"z":2,"b":3}`, want: []string{"b", "z"}},
		{name: "nested", sample: `{"network_token":{"issuer":{"country":"US"}}}`,
			got:  `{"network_token":{"issuer":{"country":"US","name":"B"},"segment":"Consumer"}}`,
			want: []string{"network_token.issuer.name", "network_token.segment"}},
		{name: "extra object reported once, not its children", sample: `{"a":1}`, got: `{"a":1,"b":{"c":1,"d":2}}`,
			want: []string{"b"}},
		{name: "array elements", sample: `{"additional":[{"brand":"s"}]}`,
			got:  `{"additional":[{"brand":"s"},{"brand":"t","funding":"debit"}]}`,
			want: []string{"additional[1].funding"}},
		{name: "not below null sample", sample: `{"x":null}`, got: `{"x":{"y":1}}`},
		{name: "not below type mismatch", sample: `{"x":"s"}`, got: `{"x":{"y":1}}`},
		{name: "not below empty sample array", sample: `{"x":[]}`, got: `{"x":[{"y":1}]}`},
		{name: "invalid got", sample: `{}`, got: `{`, want: []string{"got: invalid JSON: unexpected end of input"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ExtraKeys([]byte(tc.sample), []byte(tc.got))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ExtraKeys\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// recorder is a testing.TB that records Errorf calls instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestSameShape(t *testing.T) {
	r := &recorder{TB: t}
	SameShape(r, "network token", []byte(`{"a":{"b":1},"c":"x"}`), []byte(`{"a":{"b":"1"}}`))
	want := []string{
		"network token: a.b: type mismatch: expected number, got string",
		"network token: c: missing (expected string)",
	}
	if !slices.Equal(r.errs, want) {
		t.Errorf("SameShape errors\n got: %q\nwant: %q", r.errs, want)
	}

	r = &recorder{TB: t}
	SameShape(r, "ok", []byte(`{"a":1,"c":"x"}`), []byte(`{"a":2,"extra":true}`), "c")
	if len(r.errs) != 0 {
		t.Errorf("SameShape reported %q for a matching document", r.errs)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every seed sample under testdata/ is valid JSON and has its own shape.
func TestSeedSamplesSelfShape(t *testing.T) {
	var n int
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if path == filepath.Join("testdata", "README.md") {
			return nil
		}
		n++
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			if filepath.Ext(path) != ".json" {
				t.Fatalf("unexpected non-JSON file in testdata")
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decode(b); err != nil {
				t.Fatalf("does not parse: %v", err)
			}
			SameShape(t, path, b, b)
			if extra := ExtraKeys(b, b); len(extra) != 0 {
				t.Errorf("ExtraKeys(sample, sample) = %q", extra)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 21 {
		t.Errorf("found %d sample files under testdata, want at least 21", n)
	}
}

// Cross-checks between real seed samples.
func TestSeedSamplesCrossShape(t *testing.T) {
	created := readTestdata(t, "basistheory/network_token.json")
	fetched := readTestdata(t, "basistheory/network_token_get.json")

	// The Get response lacks token_id / token_intent_id, which the Network
	// Token Object documents as present only for some creation sources.
	if p := Shape(created, fetched); !slices.Equal(p, []string{
		"token_id: missing (expected string)",
		"token_intent_id: missing (expected string)",
	}) {
		t.Errorf("create vs get without optional: %q", p)
	}
	SameShape(t, "get vs create", created, fetched, "token_id", "token_intent_id")
	if p := ExtraKeys(fetched, created); !slices.Equal(p, []string{"token_id", "token_intent_id"}) {
		t.Errorf("ExtraKeys(get, create) = %q", p)
	}

	// The documented response carries data.expiration_month as a number; a
	// quoted month must be caught.
	quoted := bytes.Replace(created, []byte(`"expiration_month": 12,`), []byte(`"expiration_month": "12",`), 1)
	if bytes.Equal(quoted, created) {
		t.Fatal("sample no longer contains the expected expiration_month line")
	}
	if p := Shape(created, quoted); !slices.Equal(p, []string{"data.expiration_month: type mismatch: expected number, got string"}) {
		t.Errorf("quoted month: %q", p)
	}

	// The three create requests differ only in their source key.
	byData := readTestdata(t, "basistheory/create_request_data.json")
	byToken := readTestdata(t, "basistheory/create_request_token_id.json")
	byIntent := readTestdata(t, "basistheory/create_request_token_intent_id.json")
	if p := Shape(byData, byToken, "data"); !slices.Equal(p, nil) {
		t.Errorf("data request vs token_id request: %q", p)
	}
	if p := ExtraKeys(byData, byToken); !slices.Equal(p, []string{"token_id"}) {
		t.Errorf("ExtraKeys(data request, token_id request) = %q", p)
	}
	SameShape(t, "token_intent_id request", byToken, byIntent, "token_id")

	// Documents that the seeds show twice have one shape.
	pairs := [][2]string{
		{"juspay/002_fetch_token_request.json", "juspay/002_fetch_token_request_curl.json"},
		{"juspay/004_txns_new_card_response.json", "juspay/004_txns_saved_card_response.json"},
		{"juspay/001_tokenize_response_400_invalid_exp_month.json", "juspay/001_tokenize_response_400_invalid_exp_year.json"},
		{"juspay/001_tokenize_response_400_invalid_exp_month.json", "juspay/001_tokenize_response_400_missing_param.json"},
	}
	for _, pr := range pairs {
		a, b := readTestdata(t, pr[0]), readTestdata(t, pr[1])
		SameShape(t, pr[1], a, b)
		SameShape(t, pr[0], b, a)
	}
}
