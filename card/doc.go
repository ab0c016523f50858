// Package card knows what a payment card number is: which brand issued it,
// whether its length and Luhn check digit are right, how to mask it for
// display (PCI DSS 3.4.1) and how to make a format-preserving alias of it.
//
// Nothing in this package ever puts card data in an error: every *Error
// carries a stable code and a short reason written without digits, so an
// error can be logged, traced or returned to a client as it is.
package card
