package body

import (
	"net/url"
	"reflect"
	"testing"
)

func mustForm(t testing.TB, data string) Doc {
	t.Helper()
	d, err := Parse(Form, "application/x-www-form-urlencoded", []byte(data))
	if err != nil {
		t.Fatalf("Parse(%q): %v", data, err)
	}
	return d
}

func TestFormFind(t *testing.T) {
	d := mustForm(t, "card_number=4111+1111%201111%2B1111&name=J%C3%A9r%C3%B4me&card%5Bcvc%5D=123&flag&number=1&number=2&empty=&&number=3")
	tests := []struct {
		name string
		want []Value
	}{
		{"card_number", []Value{{Path: "card_number", Raw: "4111 1111 1111+1111", IsString: true}}},
		{"name", []Value{{Path: "name", Raw: "Jérôme", IsString: true}}},
		{"card[cvc]", []Value{{Path: "card[cvc]", Raw: "123", IsString: true}}},
		{"flag", []Value{{Path: "flag", Raw: "", IsString: true}}},
		{"empty", []Value{{Path: "empty", Raw: "", IsString: true}}},
		{"number", []Value{
			{Path: "number", Group: "0", Raw: "1", IsString: true},
			{Path: "number#1", Group: "1", Raw: "2", IsString: true},
			{Path: "number#2", Group: "2", Raw: "3", IsString: true},
		}},
		{"missing", nil},
	}
	for _, tt := range tests {
		if got := d.Find(tt.name); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Find(%q)\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestFormEdit(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		edits []edit
		want  string
	}{
		{"replace", "a=1&card=4111&b=%7E", []edit{set("card", "tok 1/+")}, "a=1&card=tok+1%2F%2B&b=%7E"},
		{"replace escaped name", "card%5Bnumber%5D=4111&x=1", []edit{set("card[number]", "t")}, "card%5Bnumber%5D=t&x=1"},
		{"replace valueless", "a=1&flag&b=2", []edit{set("flag", "t")}, "a=1&flag=t&b=2"},
		{"replace second occurrence", "n=1&n=2&n=3", []edit{set("n#1", "t")}, "n=1&n=t&n=3"},
		{"replace every occurrence", "n=1&c=1&n=2&c=2", []edit{set("n", "t0"), set("n#1", "t1"), del("c"), del("c#1")}, "n=t0&n=t1"},
		{"delete first", "a=1&b=2&c=3", []edit{del("a")}, "b=2&c=3"},
		{"delete middle", "a=1&b=2&c=3", []edit{del("b")}, "a=1&c=3"},
		{"delete last", "a=1&b=2&c=3", []edit{del("c")}, "a=1&b=2"},
		{"delete first two", "a=1&b=2&c=3", []edit{del("b"), del("a")}, "c=3"},
		{"delete last two", "a=1&b=2&c=3", []edit{del("b"), del("c")}, "a=1"},
		{"delete all", "a=1&b=2", []edit{del("b"), del("a")}, ""},
		{"delete missing", "a=1", []edit{del("b"), del("a#1")}, "a=1"},
		{"append", "a=1", []edit{set("cryptogram", "AB+/="), set("eci", "07")}, "a=1&cryptogram=AB%2B%2F%3D&eci=07"},
		{"append to empty", "", []edit{set("x", "1")}, "x=1"},
		{"append after delete all", "a=1", []edit{del("a"), set("x", "1")}, "x=1"},
		{"append after trailing &", "a=1&", []edit{set("x", "1")}, "a=1&x=1"},
		{"append twice same name", "a=1", []edit{set("x", "1"), set("x", "2")}, "a=1&x=2"},
		{"append then delete", "a=1", []edit{set("x", "1"), del("x")}, "a=1"},
		// A missing occurrence is appended as another field of that name: a
		// second card's new field pairs up with the second occurrence.
		{"missing occurrence appends the name", "a=1", []edit{set("a#5", "z")}, "a=1&a=z"},
		{"untouched encoding kept", "q=%7e+%20&card=1&r=a%2Bb", []edit{set("card", "t")}, "q=%7e+%20&card=t&r=a%2Bb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := applyEdits(t, mustForm(t, tt.in), tt.edits)
			if string(out) != tt.want {
				t.Fatalf("got  %q\nwant %q", out, tt.want)
			}
			if _, err := url.ParseQuery(string(out)); err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
		})
	}
}

func TestFormInvalidEscape(t *testing.T) {
	for _, in := range []string{"card=4111%", "card=4111%4", "card%zz=1", "a=%g1"} {
		if _, err := Parse(Form, "", []byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		} else if containsDigits(err.Error()) {
			t.Errorf("error echoes the body: %v", err)
		}
	}
}

func containsDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// FuzzFormNames: the names parseForm decodes into one array are what
// url.QueryUnescape (the decoder it used name by name before) makes of each
// raw name, and a form it accepts is one whose names all decode.
func FuzzFormNames(f *testing.F) {
	f.Add("items%5B0%5D%5Bsku%5D=a&card+name=b&%41%2b+%2F=c&&=d&x")
	f.Add("a%zz=1")
	f.Add("%e2%82%ac=1&b%=2")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := parseForm([]byte(in))
		if err != nil {
			return
		}
		for i, p := range d.pairs {
			want, err := url.QueryUnescape(in[p.ks:p.ke])
			if err != nil {
				t.Fatalf("pair %d: parseForm took %q, which does not decode: %v", i, in[p.ks:p.ke], err)
			}
			if p.name != want {
				t.Fatalf("pair %d: name %q, want %q", i, p.name, want)
			}
		}
	})
}

// TestFormNamesShareOneArray: a form's escaped names cost one allocation
// together, and its plain names none.
func TestFormNamesShareOneArray(t *testing.T) {
	in := []byte("items%5B0%5D%5Bsku%5D=a&items%5B0%5D%5Bname%5D=b+c&card_name=Jane+Doe&x%2By=1")
	plain := []byte("a=1&b=2&card_name=Jane+Doe")
	base := testing.AllocsPerRun(100, func() { _, _ = parseForm(plain) })
	got := testing.AllocsPerRun(100, func() { _, _ = parseForm(in) })
	if got != base+1 {
		t.Fatalf("parseForm with escaped names: %v allocations, want %v (one more than a form without)", got, base+1)
	}
}
