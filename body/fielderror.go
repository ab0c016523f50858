package body

import "fmt"

// FieldError is bad input in one named field of a body, or a refusal tied to
// one. It carries the HTTP status the gateway answers with and is rendered in
// the shape of Juspay's error_info (seeds/001). Its text names the field and
// the reason but never the value, which may be card data.
type FieldError struct {
	// Status is the HTTP status to answer with (400 for bad input).
	Status int
	// Field is the concrete field path or form name, e.g. "cards.1.number".
	Field string
	// Code is a stable machine code, e.g. "invalid_luhn".
	Code string
	// Reason is a short human explanation without the value.
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q: %s (%s)", SafePath(e.Field), e.Reason, e.Code)
}
