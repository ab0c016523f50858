package cvv

import "errors"

// ErrFull means the store holds as many CVVs as it is allowed to: the CVV
// was not held. A store refuses a new CVV rather than dropping one it
// holds, because the held one was promised to a payment already accepted
// (its request was forwarded, its CVV masked): dropping it would make that
// payment go without its CVV, silently, while the caller refused now gets
// an answer it can retry. The gateway answers it as the inbound rule set's
// cvv_store_down says (503 naming the store, or the CVV dropped and said
// so), as for a store that is down.
var ErrFull = errors.New("cvv store full")
