package body

import (
	"slices"
	"strings"
	"testing"
)

// A released doc's state must not leak into the next parse: paths located,
// edits recorded, texts and Bytes' scratch all start afresh, and what Bytes
// returned before the release stays as it was.
func TestReleaseReuse(t *testing.T) {
	a, err := Parse(JSON, "", []byte(`{"card":{"number":"4111111111111111","cvc":"123"},"x":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range a.Find("card.number") {
		a.Set(v.Path, "tok_a")
	}
	a.Delete("card.cvc")
	a.Set("card.new", "n")
	outA, err := a.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	wantA := `{"card":{"number":"tok_a","new":"n"},"x":[1,2]}`
	if string(outA) != wantA {
		t.Fatalf("a: %s", outA)
	}
	Release(a)

	for range 3 { // the pool may hand the same doc back
		b, err := Parse(JSON, "", []byte(`{"cards":[{"number":"5555555555554444"}],"card":7}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Find("card.number"); len(got) != 0 {
			t.Fatalf("b found a's path: %+v", got)
		}
		var texts []string
		b.Texts(func(tx Text) { texts = append(texts, tx.Path) })
		if !slices.Equal(texts, []string{"cards.0.number"}) {
			t.Fatalf("b texts %q", texts)
		}
		if got := FindAppend(b, nil, "cards.#.number"); len(got) != 1 || got[0].Path != "cards.0.number" || got[0].Group != "0" {
			t.Fatalf("b FindAppend %+v", got)
		}
		outB, err := b.Bytes()
		if err != nil || string(outB) != `{"cards":[{"number":"5555555555554444"}],"card":7}` {
			t.Fatalf("b unedited: %s %v", outB, err)
		}
		b.Delete("cards.0.number")
		if outB, err = b.Bytes(); err != nil || string(outB) != `{"cards":[{}],"card":7}` {
			t.Fatalf("b: %s %v", outB, err)
		}
		Release(b)
	}
	if string(outA) != wantA {
		t.Fatalf("a's output changed after release: %s", outA)
	}
	if _, err := Parse(JSON, "", []byte(`{"k":1,"k":2}`)); err == nil {
		t.Fatal("duplicate key accepted")
	}
	Release(nil)
}

// A released doc keeps none of the values it wrote (a network token is a
// card number) in its pooled arena.
func TestReleaseClearsArena(t *testing.T) {
	const dpan = "4895370012345678"
	a, err := Parse(JSON, "", []byte(`{"card":{"number":"4111111111111111"}}`))
	if err != nil {
		t.Fatal(err)
	}
	a.Set("card.number", dpan)
	a.Set("card.cryptogram", "AgAAAAAAAIR8CQrXcIhbQAAAAAA=")
	if _, err := a.Bytes(); err != nil {
		t.Fatal(err)
	}
	d := a.(*jsonDoc)
	Release(a)
	for _, s := range []string{dpan, "AgAAAAAAAIR8CQrXcIhbQAAAAAA="} {
		if strings.Contains(string(d.sp.arena[:cap(d.sp.arena)]), s) {
			t.Errorf("the released doc's arena still holds %q", s)
		}
	}
}

// TestReleaseClearsAddedMembers: the members a Set added (a network token,
// a cryptogram) are not kept in the nodes a pooled doc reuses.
func TestReleaseClearsAddedMembers(t *testing.T) {
	d, err := Parse(JSON, "application/json", []byte(`{"card":{"number":"tok_1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d.Set("card.cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
	d.Set("card.extra.eci", "07")
	if out, _ := d.Bytes(); !strings.Contains(string(out), `"cryptogram":"AgAAAAAABk4DWZ4C28yUQAAAAAA="`) {
		t.Fatalf("not added: %s", out)
	}
	jd := d.(*jsonDoc)
	nodes, anchors := jd.nodes, jd.anchors
	if len(nodes) == 0 || len(anchors) == 0 {
		t.Fatalf("%d nodes, %d anchors: the members were not added as nodes", len(nodes), len(anchors))
	}
	Release(d)
	for _, n := range nodes {
		if n.val != "" || n.key != "" || len(n.kids) != 0 || slices.ContainsFunc(n.kids[:cap(n.kids)], func(k *insNode) bool { return k != nil }) {
			t.Errorf("released node still holds %q %q %d", n.key, n.val, len(n.kids))
		}
	}
	for _, a := range anchors {
		if len(a.root.kids) != 0 || slices.ContainsFunc(a.root.kids[:cap(a.root.kids)], func(k *insNode) bool { return k != nil }) {
			t.Error("released anchor still holds its members")
		}
	}
}
