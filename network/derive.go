package network

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/keys/macpool"
)

// Everything secret the emulator hands out is an HMAC-SHA256 under the
// configured Key, with a label per purpose so that no two derivations can
// ever produce the same input. Deriving instead of storing means the store
// never holds a DPAN, and the same Key over the same store gives back the
// same DPAN after a restart.
const (
	labelDPAN       = "dpan|"
	labelPAR        = "par|"
	labelCryptogram = "cryptogram|"
	labelKeyID      = "key-id|tokengate builtin network token service"
	labelDPANIndex  = "dpan-index|"
)

// mac returns HMAC-SHA256 under macs' key of the parts joined. Provisioning
// derives three values per card and every detokenization makes a
// cryptogram (macs.Sum directly): the keyed hashes and their buffers are
// pooled, one pool per key, so a MAC allocates nothing, and the pooled
// states keep neither input (a card number, derivePAR, or a DPAN) nor sum
// (a cryptogram).
func mac(macs *macpool.Pool, parts ...string) [sha256.Size]byte {
	return macs.Sum(func(buf []byte) []byte {
		for _, p := range parts {
			buf = append(buf, p...)
		}
		return buf
	})
}

// keyID is a short fingerprint of the Key, stored with every token so a token
// read back under another Key fails loudly instead of yielding a wrong DPAN.
func keyID(macs *macpool.Pool) string {
	m := mac(macs, labelKeyID)
	return hex.EncodeToString(m[:4])
}

// deriveDPAN returns the token number for id: the token BIN, then digits from
// HMAC(Key, "dpan|"+id), then the Luhn check digit, n digits in all. The
// middle has at most twelve digits (nineteen minus a six-digit BIN and the
// check digit), so reducing 64 bits modulo 10^12 leaves a bias below 10^-7.
func deriveDPAN(macs *macpool.Pool, id, bin string, n int) string {
	middle := n - len(bin) - 1
	m := mac(macs, labelDPAN, id)
	v := binary.BigEndian.Uint64(m[:8])
	mod := uint64(1)
	for range middle {
		mod *= 10
	}
	digits := strconv.FormatUint(v%mod, 10)
	partial := bin + strings.Repeat("0", middle-len(digits)) + digits
	return partial + string(card.LuhnDigit(partial))
}

// DPANReservationPrefix starts every store key that reserves a DPAN
// (dpanIndexKey). Such keys are written once, only ever asked about with
// Exister.Exists, and random: a store may keep them apart from the token
// states (boltvault's KV.KeepInMemory).
const DPANReservationPrefix = "dpan-index:"

// dpanIndexKey is the store key that reserves a DPAN, so that two tokens never
// share a number. It is keyed, so the store learns nothing about the DPAN.
func dpanIndexKey(macs *macpool.Pool, dpan string) string {
	m := mac(macs, labelDPANIndex, dpan)
	return DPANReservationPrefix + hex.EncodeToString(m[:16])
}

// parEncoding maps bytes to uppercase letters and digits (RFC 4648 base32).
var parEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// derivePAR returns the 29-character Payment Account Reference: the brand's
// BIN controller id, then 25 characters of HMAC(Key, "par|"+PAN). Keyed by the
// PAN alone, it is the same for every token of a card, as EMVCo requires,
// and reveals nothing about the PAN without the Key.
func derivePAR(macs *macpool.Pool, prefix, pan string) string {
	m := mac(macs, labelPAR, pan)
	return prefix + parEncoding.EncodeToString(m[:])[:25]
}

// newUUID returns a random (version 4) UUID in its canonical lowercase form,
// along with its raw bytes.
func newUUID(random io.Reader, now time.Time) (string, [16]byte, error) {
	var u [16]byte
	if _, err := io.ReadFull(random, u[:]); err != nil {
		return "", u, fmt.Errorf("reading random token id: %w", err)
	}
	// A version 7 UUID: the first 48 bits are the time in milliseconds, the
	// other 74 random. Ids made in order are stored in order, so saving a new
	// token appends to the store's last page instead of dirtying a random one
	// (fewer page writes in every durable commit); the DPAN, derived from the
	// id through a keyed MAC, stays unpredictable.
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:]), u, nil
}

// isTokenID reports whether id has the form newUUID produces. Lookups of
// anything else are answered "not found" without touching the store, which
// also keeps callers from reading the store's DPAN reservations as tokens.
func isTokenID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// tokenExpiry returns the token's expiry as ("MM", "YYYY"): the card's own
// when months is 0 (Visa's habit), else months after provisioning
// (Mastercard's). The card's expiry has been validated already.
func tokenExpiry(expMonth, expYear string, months int, now time.Time) (string, string) {
	if months == 0 {
		m, _ := card.ParseExpMonth(expMonth)
		y, _ := card.ParseExpYear(expYear)
		return fmt.Sprintf("%02d", m), fmt.Sprintf("%04d", y)
	}
	now = now.UTC()
	total := now.Year()*12 + int(now.Month()) - 1 + months
	return fmt.Sprintf("%02d", total%12+1), fmt.Sprintf("%04d", total/12)
}

// pickBIN chooses one of the brand's token BINs, never one the card itself
// starts with (the DPAN must not look like the card). pick spreads tokens
// over the BINs. It returns "" when every BIN is the card's own.
func pickBIN(bins []string, pan string, pick byte) string {
	var ok []string
	for _, bin := range bins {
		if !strings.HasPrefix(pan, bin) {
			ok = append(ok, bin)
		}
	}
	if len(ok) == 0 {
		return ""
	}
	return ok[int(pick)%len(ok)]
}
