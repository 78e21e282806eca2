// Package ident checks and normalises what people type to name things: the
// vocabularies of regions, languages, currencies, support types and groups,
// amounts, and applicant identifiers with their blinded tokens for the
// double-funding check.
//
// It is pure: it imports no network, storage or libp2p, and never calls the
// clock or a random source (purity_test.go holds it to that). Every error it
// returns matches ErrInput.
package ident
