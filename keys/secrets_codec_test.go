package keys

import (
	"encoding/json"
	"testing"
)

func TestSecretsCodec(t *testing.T) {
	in := Secrets{PAN: "4111111111111111", Name: "Zoë O'Brien", DPAN: "4895370000000000"}
	out, ok := decodeSecrets(encodeSecrets(in))
	if !ok || out != in {
		t.Fatal("binary secrets did not round-trip")
	}
	if out, ok := decodeSecrets(encodeSecrets(Secrets{PAN: "378282246310005"})); !ok || out.PAN != "378282246310005" || out.Name != "" {
		t.Fatal("empty fields did not round-trip")
	}
	legacy, _ := json.Marshal(sealedSecrets(in))
	if out, ok := decodeSecrets(legacy); !ok || out != in {
		t.Fatal("secrets sealed as JSON before the binary format no longer open")
	}
	enc := encodeSecrets(in)
	for _, bad := range [][]byte{nil, {0x02}, enc[:len(enc)-1], append(append([]byte{}, enc...), 0), {0x01, 0xff}} {
		if _, ok := decodeSecrets(bad); ok {
			t.Errorf("malformed plaintext %x was accepted", bad)
		}
	}
}
