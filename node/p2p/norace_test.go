//go:build !race

package p2p_test

// raceDetector: see race_test.go.
const raceDetector = false
