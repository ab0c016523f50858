package keys

import (
	"strings"
	"testing"
)

// ChangeKey disables a rotated-out key (it then opens nothing and is not
// among the key ids), enables it again, destroys it; refuses the primary
// and an unknown id; and leaves the fingerprint key as it was.
func TestChangeKey(t *testing.T) {
	data, err := GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := Parse(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldID := first.PrimaryKeyID()
	sealed, err := first.Seal("acme", "fp", "tok_1", Secrets{PAN: "4111111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	if data, err = RotateKeyset(data, nil); err != nil {
		t.Fatal(err)
	}
	rotated, _ := Parse(data, nil)
	if _, err := ChangeKey(data, nil, rotated.PrimaryKeyID(), DisableKey); err == nil || !strings.Contains(err.Error(), "primary key") {
		t.Fatalf("disabling the primary: %v", err)
	}
	if _, err := ChangeKey(data, nil, 42, DisableKey); err == nil || !strings.Contains(err.Error(), "holds no sealing key 42") {
		t.Fatalf("an unknown id: %v", err)
	}
	disabled, err := ChangeKey(data, nil, oldID, DisableKey)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Parse(disabled, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ks.HasKeyID(oldID) || ks.PrimaryKeyID() != rotated.PrimaryKeyID() {
		t.Fatalf("after disable: keys %v", ks.KeyIDs())
	}
	if _, err := ks.Open("acme", "fp", "tok_1", sealed); err == nil {
		t.Fatal("a disabled key still opens what it sealed")
	}
	if ks.Fingerprint("acme", "4111111111111111") != first.Fingerprint("acme", "4111111111111111") {
		t.Fatal("disabling a key changed the fingerprint key")
	}
	enabled, err := ChangeKey(disabled, nil, oldID, EnableKey)
	if err != nil {
		t.Fatal(err)
	}
	if ks, _ = Parse(enabled, nil); !ks.HasKeyID(oldID) {
		t.Fatal("enable did not bring the key back")
	}
	if _, err := ks.Open("acme", "fp", "tok_1", sealed); err != nil {
		t.Fatalf("the enabled key does not open: %v", err)
	}
	destroyed, err := ChangeKey(disabled, nil, oldID, DestroyKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ChangeKey(destroyed, nil, oldID, EnableKey); err == nil {
		t.Fatal("a destroyed key could be enabled")
	}
}
