package body

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

const testBoundary = "XyZ-boundary-123"

var mpType = "multipart/form-data; boundary=" + testBoundary

// fileContent is binary, with line breaks and near-boundaries, to show the
// part is copied rather than re-encoded.
var fileContent = []byte("\x89PNG\r\n\x1a\n\x00\xff--XyZ-boundary-12\r\n--XyZ-boundary-1234 not a delimiter\r\n\r\nend")

func testMultipart(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary(testBoundary); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteField("amount", "1000"))
	must(w.WriteField("card_number", "4111111111111111"))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="receipt"; filename="r.png"`)
	h.Set("Content-Type", "image/png")
	h.Set("X-Custom", "kept as is")
	fw, err := w.CreatePart(h)
	must(err)
	_, err = fw.Write(fileContent)
	must(err)
	must(w.WriteField("card_cvc", "123"))
	must(w.WriteField("note", "multi\r\nline"))
	must(w.Close())
	return b.Bytes()
}

// readParts parses a body with mime/multipart, the way a Go backend would.
func readParts(t testing.TB, data []byte) (names, values []string) {
	t.Helper()
	r := multipart.NewReader(bytes.NewReader(data), testBoundary)
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return names, values
		}
		if err != nil {
			t.Fatalf("mime/multipart cannot read the result: %v\n%q", err, data)
		}
		v, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, p.FormName())
		values = append(values, string(v))
	}
}

func mustMultipart(t testing.TB, ct string, data []byte) Doc {
	t.Helper()
	d, err := Parse(Multipart, ct, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func TestMultipartFind(t *testing.T) {
	in := testMultipart(t)
	d := mustMultipart(t, mpType, in)
	if got := d.Find("card_number"); !reflect.DeepEqual(got, []Value{{Path: "card_number", Raw: "4111111111111111", IsString: true}}) {
		t.Fatalf("card_number: %+v", got)
	}
	if got := d.Find("receipt"); len(got) != 1 || got[0].Raw != string(fileContent) {
		t.Fatalf("file part: %+v", got)
	}
	if got := d.Find("note"); len(got) != 1 || got[0].Raw != "multi\r\nline" {
		t.Fatalf("note: %+v", got)
	}
	if got := d.Find("nope"); got != nil {
		t.Fatalf("nope: %+v", got)
	}
	// Every part is found as mime/multipart sees it.
	names, values := readParts(t, in)
	for i, n := range names {
		if got := d.Find(n); len(got) != 1 || got[0].Raw != values[i] {
			t.Errorf("part %q: %+v, mime/multipart says %q", n, got, values[i])
		}
	}
}

func TestMultipartEdit(t *testing.T) {
	in := testMultipart(t)
	d := mustMultipart(t, mpType, in)
	d.Set("card_number", "tok_abc")
	d.Delete("card_cvc")
	d.Set("cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
	d.Set(`we"ird\name`, "x")
	out, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	names, values := readParts(t, out)
	wantNames := []string{"amount", "card_number", "receipt", "note", "cryptogram", `we"ird\name`}
	wantValues := []string{"1000", "tok_abc", string(fileContent), "multi\r\nline", "AgAAAAAABk4DWZ4C28yUQAAAAAA=", "x"}
	if !reflect.DeepEqual(names, wantNames) || !reflect.DeepEqual(values, wantValues) {
		t.Fatalf("got %q %q", names, values)
	}
	// The file part, headers and all, is byte-identical.
	start := bytes.Index(in, []byte("--"+testBoundary+"\r\nContent-Disposition: form-data; name=\"receipt\""))
	end := start + bytes.Index(in[start:], []byte("\r\n--"+testBoundary+"\r\nContent-Disposition: form-data; name=\"card_cvc\""))
	if start < 0 || end < start || !bytes.Contains(out, in[start:end]) {
		t.Fatal("file part changed")
	}
	// Same boundary, same prefix up to the edited value.
	prefix := in[:bytes.Index(in, []byte("4111111111111111"))]
	if !bytes.HasPrefix(out, prefix) {
		t.Fatal("bytes before the edit changed")
	}
}

func TestMultipartCases(t *testing.T) {
	tests := []struct {
		name  string
		ct    string
		in    string
		edits []edit
		want  string
	}{
		{"preamble and epilogue kept", "multipart/form-data; boundary=b",
			"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n4111\r\n--b--\r\nepilogue",
			[]edit{set("n", "t")},
			"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nt\r\n--b--\r\nepilogue"},
		{"LF line breaks", "multipart/form-data; boundary=b",
			"--b\nContent-Disposition: form-data; name=\"n\"\n\n4111\n--b--\n",
			[]edit{set("n", "t"), set("x", "1")},
			"--b\nContent-Disposition: form-data; name=\"n\"\n\nt\n--b\nContent-Disposition: form-data; name=\"x\"\n\n1\n--b--\n"},
		{"quoted boundary and padding", `multipart/form-data; boundary="a b"`,
			"--a b  \r\ncontent-disposition: form-data; name=n\r\n\r\n4111\r\n--a b--",
			[]edit{set("n", "t")},
			"--a b  \r\ncontent-disposition: form-data; name=n\r\n\r\nt\r\n--a b--"},
		{"delete first", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\n2\r\n--b--\r\n",
			[]edit{del("a")},
			"--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\n2\r\n--b--\r\n"},
		{"delete all then append", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n",
			[]edit{del("a"), set("x", "1")},
			"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n"},
		{"repeated names", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n2\r\n--b--\r\n",
			[]edit{set("n#1", "t1"), set("n", "t0")},
			"--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nt0\r\n--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nt1\r\n--b--\r\n"},
		{"quoted-printable", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"n\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n4111=\r\n1111\r\n--b--\r\n",
			[]edit{set("n", "a=b")},
			"--b\r\nContent-Disposition: form-data; name=\"n\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n--b--\r\n"},
		{"base64", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"n\"\r\nContent-Transfer-Encoding: BASE64\r\n\r\nNDExMTExMTExMTExMTExMQ==\r\n--b--\r\n",
			[]edit{set("n", "tok")},
			"--b\r\nContent-Disposition: form-data; name=\"n\"\r\nContent-Transfer-Encoding: BASE64\r\n\r\ndG9r\r\n--b--\r\n"},
		{"empty body", "multipart/form-data; boundary=b", "",
			[]edit{set("x", "1")},
			"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n"},
		{"no parts", "multipart/form-data; boundary=b", "--b--\r\n",
			[]edit{set("x", "1")},
			"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := applyEdits(t, mustMultipart(t, tt.ct, []byte(tt.in)), tt.edits)
			if string(out) != tt.want {
				t.Fatalf("got  %q\nwant %q", out, tt.want)
			}
		})
	}
}

func TestMultipartDecodedFind(t *testing.T) {
	d := mustMultipart(t, "multipart/form-data; boundary=b",
		[]byte("--b\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n4111=\r\n1111\r\n--b\r\nContent-Disposition: form-data; name=\"b\"\r\nContent-Transfer-Encoding: base64\r\n\r\nNDExMTExMTEx\r\nMTExMTExMQ==\r\n--b--\r\n"))
	if v := d.Find("q"); len(v) != 1 || v[0].Raw != "41111111" {
		t.Errorf("quoted-printable: %+v", v)
	}
	if v := d.Find("b"); len(v) != 1 || v[0].Raw != "4111111111111111" {
		t.Errorf("base64: %+v", v)
	}
}

func TestMultipartErrors(t *testing.T) {
	part := "--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n4111111111111111\r\n"
	tests := []struct{ name, ct, in, want string }{
		{"no boundary", "multipart/form-data", part + "--b--", "no boundary parameter"},
		{"no delimiter", "multipart/form-data; boundary=zz", part + "--b--", "no boundary line"},
		{"no closing", "multipart/form-data; boundary=b", part, "no closing boundary"},
		{"unterminated headers", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"n\"\r\n4111111111111111", "unterminated headers"},
		{"malformed header", "multipart/form-data; boundary=b", "--b\r\n4111111111111111\r\n\r\nx\r\n--b--", "malformed header"},
		{"unsupported CTE", "multipart/form-data; boundary=b", "--b\r\nContent-Transfer-Encoding: x-4111111111111111\r\n\r\nx\r\n--b--", "unsupported Content-Transfer-Encoding"},
	}
	for _, tt := range tests {
		_, err := Parse(Multipart, tt.ct, []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		} else if strings.Contains(err.Error(), "4111") {
			t.Errorf("%s: error echoes the body: %v", tt.name, err)
		}
	}
}

func TestMultipartValueWithBoundary(t *testing.T) {
	d := mustMultipart(t, "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n1\r\n--b--\r\n"))
	d.Set("n", "x\r\n--b--\r\n")
	if _, err := d.Bytes(); err == nil {
		t.Fatal("a value containing the boundary was written")
	}
}
