// Package leakcheck is the goroutine-leak check shared by the packages
// whose tests run nodes on go-libp2p's mock network.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// mocknetStreams are goroutines of go-libp2p's mock network that can outlive
// mocknet.Close: a mock stream delivers through an io.Pipe, and a write
// blocked there is not interrupted by a reset, so its transport goroutine,
// and pubsub's per-peer reader and writer sitting on such a stream, may stay
// parked (seen under the race detector). Only goroutines with a mock stream
// in their stack are ignored; real transports close these streams, and every
// goroutine of ours is still checked.
var mocknetStreams = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/mock.(*stream).transport"),
	goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/mock.(*stream).Read"),
	goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/mock.(*stream).Write"),
}

// VerifyTestMain runs the tests, then fails if any goroutine is left.
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, mocknetStreams...) }
