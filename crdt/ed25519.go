package crdt

import "crypto/ed25519"

// Ed25519 (RFC 8032) is the standard library's crypto/ed25519. It links a
// random source into the binary (for GenerateKey), which this package
// never calls: signing is deterministic, and keys are made from a seed the
// caller provides. purity_test.go holds the package to that: it forbids
// crdt's own calls to a clock or a random source, not what the standard
// library links.

// PrivateKeySize is the size of a private key in the form crypto/ed25519
// uses: the 32-byte seed followed by the public key.
const PrivateKeySize = ed25519.PrivateKeySize

// PublicKeyOf returns the public key of a private key (seed || public).
func PublicKeyOf(priv []byte) DeviceKey {
	var k DeviceKey
	copy(k[:], priv[32:])
	return k
}

// KeyFromSeed expands a 32-byte seed into a private key (seed || public).
// The caller provides the seed's randomness.
func KeyFromSeed(seed []byte) []byte {
	return ed25519.NewKeyFromSeed(seed[:ed25519.SeedSize])
}

func ed25519Sign(priv, msg []byte) [64]byte {
	var sig [64]byte
	copy(sig[:], ed25519.Sign(ed25519.PrivateKey(priv[:PrivateKeySize]), msg))
	return sig
}

func ed25519Verify(pub DeviceKey, msg []byte, sig *[64]byte) bool {
	return ed25519.Verify(pub[:], msg, sig[:])
}

// SignWith signs msg with an ed25519 private key (seed || public key):
// for messages that are not entries, such as a joiner's request signed
// with an invite's key.
func SignWith(priv, msg []byte) [64]byte { return ed25519Sign(priv, msg) }

// VerifyWith checks an ed25519 signature by pub over msg.
func VerifyWith(pub [32]byte, msg []byte, sig [64]byte) bool {
	return ed25519Verify(DeviceKey(pub), msg, &sig)
}
