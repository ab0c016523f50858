package audit

// ActionCheckpoint: an entry the chain itself writes every N entries, every
// T and at a clean close, carrying an HMAC-SHA256 (Detail "mac") over the
// gateway, its seq and the hash of the entry before, with a key derived from
// the keyset (see CheckpointKeyLabel). The chain's first entry is one too
// (Detail "previous" says what came before it).
const ActionCheckpoint = "checkpoint"

// CheckpointKeyLabel is the label of the checkpoint key derived from the
// keyset with keys.Keys.DeriveKey: derived from the fingerprint key, it is
// stable across `caddy tokengate rotate` and changes only with a new keyset.
const CheckpointKeyLabel = "audit/checkpoint"
