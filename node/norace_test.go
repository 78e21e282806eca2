//go:build !race

package node_test

// raceDetector: see race_test.go.
const raceDetector = false
