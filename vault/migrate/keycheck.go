package migrate

import (
	"context"
	"fmt"
	"slices"

	"github.com/tokengate/tokengate/vault"
)

// Records are copied sealed, so a copy is only of use if the gateway on the
// target holds the keys that sealed them: one that does not refuses to
// start (it checks the vault's recorded key ids), and before that check a
// copy into a vault of another keyset gave "3 copied, 0 conflicts" and
// payments that failed. Run compares the Tink key ids of the two vaults'
// records before it copies anything (vault.KnownSealingKeys: the recorded
// list, or a scan of an older vault) and refuses a mix no one keyset is
// known to open.
//
// Without the target's keyset (Options.Keyset), keysets are told apart by
// their key ids, and a keyset only ever gains keys (caddy tokengate rotate):
//   - an empty target takes anything (the gateway's start then checks its
//     keyset against what was copied);
//   - a source whose keys are all among the target's is the same keyset,
//     or an older state of it;
//   - a target whose keys are all among the source's is a copy of part of
//     the source (a run stopped half way) or an older state of its keyset:
//     copied, and the report names the keys the target's gateway must hold;
//   - otherwise each holds keys the other does not use: two keysets, or one
//     rotated in between, which only the keyset can tell. Refused.
//
// With the keyset, the check is exact: every key of both vaults must be in it.

// KeysetChecker is the target gateway's keyset, as far as the check needs it
// (*keys.Keys).
type KeysetChecker interface {
	HasKeyID(id uint32) bool
}

// KeysError is Run's refusal of a copy across keysets; nothing was copied.
type KeysError struct {
	// Source and Target are the key ids of each vault's records.
	Source, Target []uint32
	// Missing, with a keyset, are the ids of either vault it lacks.
	Missing []uint32
	// Keyset says the check was against a keyset.
	Keyset bool
}

func (e *KeysError) Error() string {
	if e.Keyset {
		return fmt.Sprintf("migrate: refused, nothing copied: the keyset given does not hold key %s, which sealed records of the source or the target (source keys: %s; target keys: %s); a gateway with it could not open them",
			vault.KeyIDList(e.Missing), orNone(e.Source), orNone(e.Target))
	}
	return fmt.Sprintf("migrate: refused, nothing copied: the target holds records sealed with other keys (target keys: %s; source keys: %s, of which %s sealed nothing in the target). "+
		"No one keyset is known to open both, and a gateway on the target would fail to pay with the copied tokens. "+
		"Copy into an empty vault; or, if the target gateway's keyset holds all of these keys (one keyset rotated in between), name it with --keyset (and --kek-env) to check against it",
		vault.KeyIDList(e.Target), vault.KeyIDList(e.Source), vault.KeyIDList(notIn(e.Source, e.Target)))
}

func orNone(ids []uint32) string {
	if len(ids) == 0 {
		return "none"
	}
	return vault.KeyIDList(ids)
}

// notIn returns the ids of a that b lacks.
func notIn(a, b []uint32) []uint32 {
	return vault.MissingKeys(a, func(id uint32) bool { return slices.Contains(b, id) })
}

// checkKeys runs the check; it returns the ids the target's gateway must
// hold beyond those the target's records already use (for the report).
func checkKeys(ctx context.Context, src vault.Exporter, dst Target, keyset KeysetChecker) (needed []uint32, err error) {
	if raw, ok := keyset.(interface{ HasRawKey() bool }); ok && raw.HasRawKey() {
		return nil, nil // its records carry no key id to compare (keys.HasRawKey)
	}
	dexp, ok := dst.(vault.Exporter)
	if !ok {
		return nil, nil // a target that cannot be read back whole: tests' fakes
	}
	s, err := vault.KnownSealingKeys(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("migrate: reading the source's keys: %w", err)
	}
	d, err := vault.KnownSealingKeys(ctx, dexp)
	if err != nil {
		return nil, fmt.Errorf("migrate: reading the target's keys: %w", err)
	}
	if keyset != nil {
		all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(s), d...))))
		if missing := vault.MissingKeys(all, keyset.HasKeyID); len(missing) > 0 {
			return nil, &KeysError{Source: s, Target: d, Missing: missing, Keyset: true}
		}
		return nil, nil
	}
	extra := notIn(s, d)
	switch {
	case len(d) == 0 || len(extra) == 0:
		return nil, nil
	case len(notIn(d, s)) == 0:
		return extra, nil
	}
	return nil, &KeysError{Source: s, Target: d}
}
