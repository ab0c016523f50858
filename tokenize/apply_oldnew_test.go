package tokenize_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

// FuzzApplyOldNew compares Apply with the Apply it replaced (ApplyOld,
// which kept every card's record until the edit): for bodies of 0-80
// cards, some repeated, some stray numbers, a card the vault fails to
// store or an invalid card, both must give the same forwarded body byte
// for byte, the same Result and the same error. Tokens are random for a
// new card, so the two run on one vault, each in turn first: the second
// sees the first's cards as repeats and must give the same tokens, and the
// Results differ only in Created.
func FuzzApplyOldNew(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint32(1))
	f.Add(uint8(1), uint8(0), uint8(0), uint8(0), uint32(2))
	f.Add(uint8(40), uint8(3), uint8(0), uint8(1), uint32(3))
	f.Add(uint8(40), uint8(0), uint8(7), uint8(2), uint32(4))
	f.Add(uint8(33), uint8(5), uint8(0), uint8(3), uint32(5))
	f.Add(uint8(80), uint8(9), uint8(70), uint8(4), uint32(6))
	f.Add(uint8(2), uint8(2), uint8(1), uint8(5), uint32(7))
	f.Add(uint8(50), uint8(4), uint8(0), uint8(8|2), uint32(8))
	f.Add(uint8(50), uint8(0), uint8(0), uint8(16), uint32(9))
	f.Add(uint8(60), uint8(6), uint8(0), uint8(16|8|4|2), uint32(10))
	f.Add(uint8(1), uint8(0), uint8(0), uint8(16|2), uint32(11))
	e := newEnv(f)
	fails := &lastFourFaultyVault{Vault: e.vault, last4: "none"}
	e.tk.Vault = vault.NewShortLived(fails)
	sets := map[bool]map[bool]*rules.Inbound{}
	for _, keep := range []bool{false, true} {
		sets[keep] = map[bool]*rules.Inbound{}
		for _, guard := range []bool{false, true} {
			set := arraySet(f, tenantA, keep)
			if guard {
				set.PANGuard = rules.PANTokenize
			}
			set.MaxCards = 100
			sets[keep][guard] = set
		}
	}
	run := 0
	kinds := map[bool]int{} // requests that passed, failed: both must occur
	f.Cleanup(func() {
		if run > 1 && (kinds[false] == 0 || kinds[true] == 0) {
			f.Errorf("%d runs passed, %d failed: the fuzz reaches only one outcome", kinds[false], kinds[true])
		}
	})
	f.Fuzz(func(t *testing.T, n, repeats, bad, flags uint8, seed uint32) {
		n %= 81
		run++
		in, failLast4 := fuzzCards(int(n), int(repeats), int(bad), flags, fmt.Sprintf("%d%d", seed, run))
		fails.last4 = failLast4
		set := sets[flags&1 != 0][flags&2 != 0]
		apply := []func(*tokenize.Tokenizer, context.Context, *rules.Inbound, body.Kind, body.Doc) (tokenize.Result, error){
			(*tokenize.Tokenizer).Apply, tokenize.ApplyOld}
		if flags&4 != 0 {
			apply[0], apply[1] = apply[1], apply[0]
		}
		var outs [2][]byte
		var ress [2]tokenize.Result
		var errs [2]string
		for i, a := range apply {
			doc, err := body.Parse(body.JSON, "application/json", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			res, err := a(e.tk, context.Background(), set, body.JSON, doc)
			if err != nil {
				errs[i] = err.Error()
			}
			out, berr := doc.Bytes()
			if berr != nil {
				t.Fatal(berr)
			}
			if err != nil && !bytes.Equal(out, []byte(in)) {
				t.Fatalf("run %d: the body was edited although Apply failed: %v", i, err)
			}
			outs[i] = bytes.Clone(out)
			res.Created = 0
			ress[i] = res
			body.Release(doc)
		}
		if errs[0] != errs[1] {
			t.Fatalf("errors differ: %q vs %q", errs[0], errs[1])
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("bodies differ:\n%s\n%s", outs[0], outs[1])
		}
		if !reflect.DeepEqual(ress[0], ress[1]) {
			t.Fatalf("results differ: %+v vs %+v", ress[0], ress[1])
		}
		kinds[errs[0] != ""]++
	})
}

// fuzzCards builds a "cards" body of n cards with PANs new to the vault
// (salted by salt), where every repeats-th card repeats the first, the
// bad-th (1-based, 0 none) has an invalid number, and with flags&8 a
// stray card number in a note. It returns the last four digits of a card
// for the vault to fail (flags&16), or "none".
func fuzzCards(n, repeats, bad int, flags uint8, salt string) (string, string) {
	var b strings.Builder
	b.WriteString(`{"batch":"b","cards":[`)
	failLast4 := "none"
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		pan := luhn(fmt.Sprintf("4%09s%05d", salt[max(0, len(salt)-9):], i))
		if repeats > 0 && i > 0 && i%repeats == 0 {
			pan = luhn(fmt.Sprintf("4%09s%05d", salt[max(0, len(salt)-9):], 0))
		}
		if bad == i+1 {
			pan = pan[:len(pan)-1] + string('0'+(pan[len(pan)-1]-'0'+1)%10)
		}
		if flags&16 != 0 && i == n*2/3 {
			failLast4 = pan[len(pan)-4:]
		}
		fmt.Fprintf(&b, `{"number":"%s","cvc":"%03d","exp_month":"%02d","exp_year":"2031","ref":"r%d"`, pan, i%1000, 1+i%12, i)
		if flags&8 != 0 && i%7 == 3 {
			fmt.Fprintf(&b, `,"note":"%s"`, luhn(fmt.Sprintf("49%08s%05d", salt[max(0, len(salt)-8):], i)))
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.String(), failLast4
}
