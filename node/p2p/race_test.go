//go:build race

package p2p_test

// raceDetector is set when the tests run with -race, which makes signing
// and verifying about ten times slower: tests that move many entries move
// fewer then, through the same code.
const raceDetector = true
