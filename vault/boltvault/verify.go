package boltvault

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// VerifyFile checks a copy of a vault file (a backup) without changing it:
// its SHA-256 is wantSHA256 (hex; "" skips the check), bbolt opens it
// read-only and finds its page structure consistent (Tx.Check), every
// record decodes and is filed under its tenant's fingerprint index, and
// visit (if not nil) accepts every record, e.g. that the keyset opens it.
// Errors name the tenant and token, never card data (there is none in the
// file but sealed bytes).
func VerifyFile(path, wantSHA256 string, visit func(vault.Record) error) (snap Snapshot, err error) {
	f, err := os.Open(path)
	if err != nil {
		return snap, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return snap, err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return snap, fmt.Errorf("reading %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA256 != "" && sum != wantSHA256 {
		return snap, fmt.Errorf("%s: SHA-256 %s, want %s: the file is truncated or damaged", path, sum, wantSHA256)
	}
	// A damaged file may point bbolt's memory map past the end of the
	// file, and reading there faults (SIGBUS); in this goroutine the fault
	// is a panic, recovered as an error, instead of killing the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s is not a sound vault file: %v", path, r)
		}
	}()
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return snap, fmt.Errorf("%s is not a vault file bbolt opens: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// Every page the transaction can reach must lie in the file: a
		// truncated copy fails here, before a page past its end is read.
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%s is truncated: %d bytes, its pages need %d", path, fi.Size(), tx.Size())
		}
		for cerr := range tx.Check() {
			err = errors.Join(err, cerr)
		}
		if err != nil {
			return fmt.Errorf("%s fails bbolt's consistency check: %w", path, err)
		}
		if tx.Bucket(bucketVault) == nil || tx.Bucket(bucketKV) == nil {
			return fmt.Errorf("%s is a bbolt file but not a tokengate vault (no vault and kv buckets)", path)
		}
		var cerr error
		if snap, cerr = count(tx); cerr != nil {
			return cerr
		}
		return verifyRecords(tx, visit)
	})
	snap.Size, snap.SHA256 = fi.Size(), sum
	return snap, err
}

// verifyRecords decodes every record and checks that its tenant's
// fingerprint index names it, then hands it to visit.
func verifyRecords(tx *bolt.Tx, visit func(vault.Record) error) error {
	return tx.Bucket(bucketVault).ForEachBucket(func(tenant []byte) error {
		tokens, fps := tenantBuckets(tx, string(tenant))
		if tokens == nil {
			return nil
		}
		return tokens.ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(string(k), v)
			if err != nil {
				return fmt.Errorf("tenant %s token %s: the record does not decode", tenant, k)
			}
			rec.Tenant = string(tenant) // as loadRecord files it
			if fps == nil || string(fps.Get([]byte(rec.Fingerprint))) != rec.Token {
				return fmt.Errorf("tenant %s token %s: the fingerprint index does not name the record", tenant, k)
			}
			if visit != nil {
				if err := visit(rec); err != nil {
					return fmt.Errorf("tenant %s token %s: %w", tenant, k, err)
				}
			}
			return nil
		})
	})
}
