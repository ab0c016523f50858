package purge

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/vault"
)

// Target says what a purge erases: with All, every card of Tenant; or,
// with Customer, the cards Tenant's Juspay customer has saved; or, with
// Tokens, those tokens of Tenant. Exactly one of the three: an empty token
// list or a misspelt field never widens a purge to the whole tenant.
type Target struct {
	Tenant   string   `json:"tenant"`
	All      bool     `json:"all,omitempty"`
	Customer string   `json:"customer,omitempty"`
	Tokens   []string `json:"tokens,omitempty"`
	// DryRun counts what would be erased and erases nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Rate bounds erasures per second (0: 100).
	Rate int `json:"rate,omitempty"`
}

// MaxRate bounds a purge's rate (erasures per second).
const MaxRate = 100_000

// Check says what is wrong with t, naming the field.
func (t Target) Check() error {
	n := 0
	for _, set := range []bool{t.All, t.Customer != "", len(t.Tokens) > 0} {
		if set {
			n++
		}
	}
	switch {
	case t.Tenant == "":
		return errors.New("tenant is required")
	case n == 0:
		return errors.New("say what to erase: all, customer or tokens")
	case n > 1:
		return errors.New("all, customer and tokens: choose one")
	case t.Rate < 0 || t.Rate > MaxRate:
		return fmt.Errorf("rate %d: want between 1 and %d per second (0: 100)", t.Rate, MaxRate)
	}
	return nil
}

// Select lists the tokens t names (tenant and customer: as stored now;
// tokens: those of the list that exist).
func Select(ctx context.Context, v vault.Vault, t Target) ([]string, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	ctx = vault.WithoutTouch(ctx)
	if len(t.Tokens) > 0 {
		var out []string
		seen := map[string]bool{}
		for _, tok := range t.Tokens {
			if seen[tok] {
				continue
			}
			seen[tok] = true
			rec, err := v.Get(ctx, t.Tenant, tok)
			switch {
			case errors.Is(err, vault.ErrNotFound):
				continue
			case err != nil:
				return nil, fmt.Errorf("purge: reading records: %w", err)
			}
			if rec.Tenant == t.Tenant && !vault.IsShortLived(rec) {
				out = append(out, tok)
			}
		}
		return out, nil
	}
	var out []string
	opts := vault.ListOptions{Limit: vault.MaxListLimit}
	for {
		page, err := v.List(ctx, t.Tenant, opts)
		if err != nil {
			return nil, fmt.Errorf("purge: listing records: %w", err)
		}
		for _, rec := range page.Records {
			if t.Customer != "" {
				if _, ok := rec.Metadata[CustomerKey(t.Customer)]; !ok {
					continue
				}
			}
			out = append(out, rec.Token)
		}
		if page.Next == "" {
			return out, nil
		}
		opts.After = page.Next
	}
}

// Run erases the tokens t names, telling progress after each. Cards whose
// network token cannot be deleted are kept and counted; a storage or audit
// failure stops the run (what was erased stays erased; running it again
// finishes the job).
func (e *Eraser) Run(ctx context.Context, t Target, tokens []string, progress func(done int, rep Report)) (Report, error) {
	rep := Report{Walked: int64(len(tokens))}
	pace := pacer(t.Rate)
	defer pace.Stop()
	for i, tok := range tokens {
		if t.DryRun {
			rep.Erased++
		} else {
			select {
			case <-ctx.Done():
				return rep, ctx.Err()
			case <-pace.C:
			}
			var erased bool
			var err error
			if t.Customer != "" {
				erased, err = e.ForgetCustomer(ctx, t.Tenant, tok, t.Customer, ReasonPurge)
				if err == nil && !erased {
					rep.Forgotten++
				}
			} else {
				erased, err = e.Erase(ctx, t.Tenant, tok, ReasonPurge)
			}
			switch {
			case errors.Is(err, ErrNetworkToken):
				rep.Kept++
			case err != nil:
				return rep, err
			case erased:
				rep.Erased++
			}
		}
		if progress != nil {
			progress(i+1, rep)
		}
	}
	return rep, nil
}
