package tokenize

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/rules"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// prefixedLength is the random part of a prefixed token: 24 base62
// characters are ~142 bits, so collisions are not a practical concern.
const prefixedLength = 24

// newToken makes the token string the merchant receives, in the rule set's
// format. A network_token format without a DPAN (card not eligible, service
// down) falls back to a prefixed reference: the card is still tokenized and
// usable outbound through the PAN fallback.
func newToken(set *rules.Inbound, pan, dpan string, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	switch set.Format {
	case rules.FormatUUID:
		id, err := uuid.NewRandomFromReader(random)
		if err != nil {
			return "", fmt.Errorf("generating uuid token: %w", err)
		}
		return id.String(), nil
	case rules.FormatAlias:
		return card.Alias(pan, random)
	case rules.FormatNetworkToken:
		if dpan != "" {
			return dpan, nil
		}
	}
	return prefixed(set.Prefix, random)
}

func prefixed(prefix string, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	if prefix == "" {
		prefix = "tok_"
	}
	buf := make([]byte, prefixedLength)
	if _, err := io.ReadFull(random, buf); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	out := make([]byte, 0, len(prefix)+prefixedLength)
	out = append(out, prefix...)
	for _, b := range buf {
		// 256 is not a multiple of 62; the slight bias over 24 characters
		// costs a fraction of a bit of the ~142 and keeps this allocation-free.
		out = append(out, base62[int(b)%len(base62)])
	}
	return string(out), nil
}
