package network

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/tokengate/tokengate/card"
)

// cryptogramLen is the cryptogram's size in bytes: Visa TAVV and Amex and
// Discover cryptograms are 20 bytes, 28 characters in base64 (BRIEF).
const cryptogramLen = 20

// Cryptogram returns a fresh single-use cryptogram for an ACTIVE token, with
// the ECI configured for its brand. The value is the standard, padded base64
// of the first 20 bytes of HMAC-SHA256(Key, "cryptogram|" id "|" DPAN "|"
// counter "|" unix-nanos "|" 16 random bytes): the in-memory counter and the
// nonce make every call differ, and nothing is written to the store, so the
// detokenize path stays fast. A SUSPENDED token gives a wrapped ErrSuspended,
// a DELETED one ErrDeleted, an unknown id ErrNotFound. A merchant-initiated
// transaction on a Mastercard token gets no cryptogram (an empty Value), as
// MDES issues none for MITs.
func (b *Builtin) Cryptogram(ctx context.Context, req CryptogramRequest) (Cryptogram, error) {
	if err := ctx.Err(); err != nil {
		return Cryptogram{}, err
	}
	e, err := b.lookup(ctx, req.TokenID)
	if err != nil {
		return Cryptogram{}, err
	}
	switch e.st.Status {
	case StatusActive:
	case StatusSuspended:
		return Cryptogram{}, wrap(ErrSuspended)
	default:
		return Cryptogram{}, wrap(ErrDeleted)
	}
	if req.Initiator == MerchantInitiated && card.Brand(e.st.Brand) == card.Mastercard {
		return Cryptogram{}, nil
	}

	var nonceErr error
	sum := b.macs.Sum(func(buf []byte) []byte {
		buf = append(buf, labelCryptogram...)
		buf = append(buf, e.st.ID...)
		buf = append(buf, '|')
		buf = append(buf, e.dpan...)
		buf = append(buf, '|')
		buf = binary.BigEndian.AppendUint64(buf, b.counter.Add(1))
		buf = append(buf, '|')
		buf = binary.BigEndian.AppendUint64(buf, uint64(b.now().UnixNano()))
		buf = append(buf, '|')
		n := len(buf)
		buf = append(buf, make([]byte, 16)...)
		_, nonceErr = io.ReadFull(b.random, buf[n:])
		return buf
	})
	if nonceErr != nil {
		return Cryptogram{}, wrap(fmt.Errorf("reading cryptogram nonce: %w", nonceErr))
	}
	value := base64.StdEncoding.EncodeToString(sum[:cryptogramLen])
	clear(sum[:])
	return Cryptogram{Value: value, ECI: b.cfg.eci[card.Brand(e.st.Brand)]}, nil
}
