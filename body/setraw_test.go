package body

import "testing"

// SetRaw writes integers and booleans unquoted in JSON (replacing, adding
// to an existing object, creating parents, and through sjson for array
// paths), and as text in forms.
func TestSetRaw(t *testing.T) {
	tests := []struct {
		name, in, want string
		edit           func(Doc)
	}{
		{"replace", `{"m":"03","x":1}`, `{"m":3,"x":1}`, func(d Doc) { d.SetRaw("m", "3") }},
		{"add", `{"x":1}`, `{"x":1,"b":true}`, func(d Doc) { d.SetRaw("b", "true") }},
		{"create parents beside a string", `{}`, `{"s":{"y":2030,"t":"card"}}`, func(d Doc) { d.SetRaw("s.y", "2030"); d.Set("s.t", "card") }},
		{"array path", `{"a":[]}`, `{"a":[7]}`, func(d Doc) { d.SetRaw("a.0", "7") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(JSON, "application/json", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(d)
			got, err := d.Bytes()
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	d, err := Parse(Form, "application/x-www-form-urlencoded", []byte("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	d.SetRaw("m", "3")
	if got, _ := d.Bytes(); string(got) != "a=1&m=3" {
		t.Fatalf("form: got %s", got)
	}
}
