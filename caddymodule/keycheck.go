package caddymodule

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/vault"
)

// checkKeys refuses to start with a keyset that lacks a key that sealed
// records in the vault: every payment with their tokens would fail, and
// every returning card would get a new token. The vault records the Tink
// key id of every record it writes (vault.KeyRecorder), so the check covers
// every key in use, whatever the vault's size, without opening a record:
// each recorded id must be in the keyset. A refusal names the ids.
//
// A vault written by a release that did not record keys has an incomplete
// list: the ids recorded so far are checked, the few records sampled by
// checkKeysOpen (bbolt) are opened as before, and a scan of every record
// runs in the background (backfillSealingKeys) rather than at start, which
// a large vault would hold for minutes. What the scan finds is checked by
// the next start; until then a record of a missing key is answered
// record_unreadable, and the scan logs the key as an error.
func (a *App) checkKeys(ctx context.Context, v vault.Vault) error {
	kr, recorded := v.(vault.KeyRecorder)
	if recorded && a.keys.HasRawKey() {
		// Its records' leading bytes are not a key id (keys.HasRawKey).
		a.logger.Warn("the keyset holds a key whose ciphertexts carry no key id (Tink RAW prefix, not made by tokengate): the vault's key ids are not checked, only a sample of its records")
		recorded = false
	}
	var sk vault.SealingKeys
	if recorded {
		var err error
		if sk, err = kr.SealingKeys(ctx); err != nil {
			return fmt.Errorf("tokengate: reading the keys that sealed the records of the %s: %w", a.vault.Describe(), err)
		}
		if err := a.missingKeys(sk.IDs); err != nil {
			return misconfigured(err)
		}
	}
	if err := a.checkKeysOpen(a.keys); err != nil {
		return misconfigured(err)
	}
	if exp, ok := v.(vault.Exporter); ok && recorded && !sk.Complete {
		a.logger.Info("the vault does not yet list every key that sealed its records (records written by an older release): scanning them in the background; the next start checks every key",
			zap.String("vault", a.vault.Describe()))
		go a.backfillSealingKeys(struct {
			vault.Exporter
			vault.KeyRecorder
		}{exp, kr})
	}
	return nil
}

// missingKeys is the refusal for recorded key ids the keyset lacks, or nil.
func (a *App) missingKeys(ids []uint32) error {
	missing := vault.MissingKeys(ids, a.keys.HasKeyID)
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("tokengate: the configured keyset cannot open the cards in the %s: it does not hold key %s, which sealed records there (the keyset holds key %s; the vault's records were sealed with key %s). "+
		"Configure the keyset that holds it (the ids are the \"keyId\"s of the keyset file's aead keyset; a development keyset is kept in dev-keyset.json beside the vault), or use a new vault for this keyset",
		a.vault.Describe(), vault.KeyIDList(missing), vault.KeyIDList(a.keys.KeyIDs()), vault.KeyIDList(ids))
}

// backfillSealingKeys scans an older vault's records for their keys, until
// done or the config stops.
func (a *App) backfillSealingKeys(v interface {
	vault.Exporter
	vault.KeyRecorder
}) {
	sk, err := vault.BackfillSealingKeys(a.ctx, v)
	switch {
	case a.ctx.Err() != nil:
		return // the config stopped; the next one scans again
	case err != nil:
		a.logger.Warn("scanning the vault for the keys that sealed its records failed; the next start scans again", zap.Error(err))
		return
	}
	if err := a.missingKeys(sk.IDs); err != nil {
		a.logger.Error("the vault holds records this keyset cannot open; their payments are answered record_unreadable, and the next start refuses", zap.Error(err))
		return
	}
	a.logger.Info("the vault now lists every key that sealed its records; the keyset holds them all", zap.String("keys", vault.KeyIDList(sk.IDs)))
}
