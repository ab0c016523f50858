package network

import (
	"strings"

	"github.com/tokengate/tokengate/panguard"
)

// Codes a service adapter sets itself (not read from a remote answer).
const (
	// CodeInvalidCard means the remote service refused the card data.
	CodeInvalidCard = "invalid_card"
	// CodeUnsupportedOperation means the service's API has no such operation.
	CodeUnsupportedOperation = "unsupported_operation"
	// CodeRefused stands for a remote refusal whose code is not one of
	// tokengate's: a code a remote invents is not a bounded metric label, and
	// its text is not ours to vouch for.
	CodeRefused = "refused"
)

// knownCodes are the codes tokengate documents: the only ones a metric label
// may carry.
var knownCodes = map[string]bool{
	CodeProvisionDataExpired:   true,
	CodeCardVerificationFailed: true,
	CodeCardNotEligible:        true,
	CodeCardNotAllowed:         true,
	CodeCardDeclined:           true,
	CodeProvisionNotAllowed:    true,
	CodeCardEligibilityError:   true,
	CodeBrandMismatch:          true,
	CodeInvalidStatus:          true,
	CodeIdempotencyConflict:    true,
	CodeInvalidCard:            true,
	CodeUnsupportedOperation:   true,
	CodeRefused:                true,
}

// KnownCode reports whether code is one of tokengate's documented codes.
func KnownCode(code string) bool { return knownCodes[code] }

// maxRemoteMessage bounds a remote message kept in an error: enough for a
// sentence, not for a remote answer pasted whole into a log line.
const maxRemoteMessage = 200

// RemoteError is a refusal read from a remote service's answer (its title or
// error code, and its human message). Both are the remote's text, so both
// are made safe to log and to serve: the code is lowercased snake_case or
// CodeRefused, the message is cut to maxRemoteMessage bytes, and a message
// or code that holds a card number in any spelling has its digits masked
// (Error's contract: neither ever contains card data).
func RemoteError(code, message string) *Error {
	code = strings.ToLower(code)
	if !snakeCase(code) || panguard.HasNumber(code) {
		code = CodeRefused
	}
	// Masked before the cut: a card number the cut splits keeps too few
	// digits to read as one, and would stay unmasked.
	if panguard.HasNumber(message) {
		message = panguard.MaskDigits(message)
	}
	if len(message) > maxRemoteMessage {
		cut := maxRemoteMessage
		for cut > 0 && message[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		message = message[:cut] + "…"
	}
	return &Error{Code: code, Message: message}
}

// snakeCase is a code's shape: 1-64 of [a-z0-9_], starting with a letter.
func snakeCase(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
