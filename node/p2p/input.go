package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
)

// inputError is an error about what a person typed (ident.ErrInput,
// which is node.ErrInput: exit status 2).
type inputError struct{ msg string }

func (e inputError) Error() string        { return e.msg }
func (e inputError) Is(target error) bool { return target == ident.ErrInput }

func inputErr(format string, args ...any) error {
	return inputError{msg: fmt.Sprintf(format, args...)}
}

// peerDevice is the device key a peer ID stands for: a node's libp2p
// identity is its device key.
func peerDevice(p peer.ID) (crdt.DeviceKey, bool) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return crdt.DeviceKey{}, false
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != len(crdt.DeviceKey{}) {
		return crdt.DeviceKey{}, false
	}
	return crdt.DeviceKey(raw), true
}

// peerID is the peer ID of device key k.
func peerID(k crdt.DeviceKey) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(k[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

func short(id string) string { return id[:12] }
