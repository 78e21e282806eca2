//go:build race

package store

// raceDetector is set when the tests run with -race, which makes the
// store about ten times slower: the property tests run fewer cases then,
// through the same code.
const raceDetector = true
