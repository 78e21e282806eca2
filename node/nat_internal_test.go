package node

import (
	"context"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// The relay serves member devices only, on both ends of a circuit.
func TestRelayACL(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Exile"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	self, _ := PeerID(n.Device())
	stranger, _ := PeerID(crdt.DeviceKey(crdt.KeyFromSeed(make([]byte, 32))[32:]))
	acl := relayACL{n}
	if !acl.AllowReserve(self, nil) {
		t.Error("a member device may not reserve")
	}
	for _, c := range []struct {
		name string
		ok   bool
		got  bool
	}{
		{"a stranger reserves", false, acl.AllowReserve(stranger, nil)},
		{"a stranger connects to a member", false, acl.AllowConnect(stranger, nil, self)},
		{"a member connects to a stranger", false, acl.AllowConnect(self, nil, stranger)},
	} {
		if c.got != c.ok {
			t.Errorf("%s: allowed %v, want %v", c.name, c.got, c.ok)
		}
	}
}
