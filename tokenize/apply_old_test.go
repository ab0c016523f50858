package tokenize

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
)

// ApplyOld is Apply as it was before it kept only each card's token (not
// its record) until the edit: FuzzApplyOldNew compares the two.
func ApplyOld(t *Tokenizer, ctx context.Context, set *rules.Inbound, kind body.Kind, doc body.Doc) (Result, error) {
	return t.applyOld(ctx, set, kind, doc)
}

func (t *Tokenizer) applyOld(ctx context.Context, set *rules.Inbound, kind body.Kind, doc body.Doc) (Result, error) {
	cards, err := t.validCards(set, kind, doc)
	if err != nil {
		return Result{}, err
	}
	strays, strayCards, err := guardPANs(set, doc, cards)
	if err != nil {
		return Result{}, err
	}
	all := append(cards[:len(cards):len(cards)], strayCards...)
	if err := checkMaxCards(set, all); err != nil {
		return Result{}, err
	}
	var oneRecord [1]vault.Record
	var oneToken [1]string
	records, tokens := oneRecord[:0], oneToken[:]
	if len(all) != 1 {
		tokens = make([]string, len(all))
	}
	records, created, err := t.tokenizeAllOld(ctx, set, all, records)
	if err != nil {
		return Result{}, err
	}
	res := Result{Cards: len(all), Created: created, Strays: strayPaths(strays)}
	for i := range all {
		tokens[i] = records[i].Token
		if records[i].Network.Status == network.StatusActive {
			res.NetworkTokens++
		}
	}
	if res.CVVsNotHeld, err = t.holdCVVs(ctx, set, all, tokens); err != nil {
		return Result{}, err
	}
	res.Fields = edit(doc, cards, strays, strayCards, tokens)
	if len(strayCards) > 0 && kind == body.JSON {
		if err := verifyNoStrays(doc, kind, cards, strays); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

func (t *Tokenizer) tokenizeAllOld(ctx context.Context, set *rules.Inbound, cards []*cardInput, dst []vault.Record) ([]vault.Record, int, error) {
	if len(cards) == 1 {
		rec, isNew, err := t.tokenizeCard(ctx, set, cards[0])
		records := append(dst, rec)
		if isNew {
			return records, 1, err
		}
		return records, 0, err
	}
	records := make([]vault.Record, len(cards))
	created := make([]bool, len(cards))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelCards)
	for i, c := range cards {
		g.Go(func() error {
			rec, isNew, err := t.tokenizeCard(gctx, set, c)
			records[i], created[i] = rec, isNew
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	n := 0
	for _, f := range created {
		if f {
			n++
		}
	}
	return records, n, nil
}
