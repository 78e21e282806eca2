// Package seal holds the cryptography of need-to-know: sealed bodies, the
// wraps of their content keys for organisations, and the wraps of an
// organisation's keys for its devices (seal.go explains the constructions).
// Its functions take keys and bytes and return bytes; which keys a node
// holds and whom it seals for are the node's business.
//
// It is pure: no network, storage, node or clock, and one source of
// randomness, random.go (purity_test.go holds it to that).
package seal
