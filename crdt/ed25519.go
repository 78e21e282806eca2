package crdt

import (
	"crypto/sha512"
	"crypto/subtle"

	"filippo.io/edwards25519"
)

// Ed25519 (RFC 8032) over filippo.io/edwards25519, with the same checks as
// Go's crypto/ed25519 (canonical S, cofactorless equation), against which
// ed25519_test.go cross-checks it. It is here, rather than a call into
// crypto/ed25519, because that package links crypto/rand and math/rand
// into whatever imports it, and this package must not reach a random
// source at all: signing is deterministic and keys are made by the caller.

// PrivateKeySize is the size of a private key in the form crypto/ed25519
// uses: the 32-byte seed followed by the public key.
const PrivateKeySize = 64

// PublicKeyOf returns the public key of a private key (seed || public).
func PublicKeyOf(priv []byte) DeviceKey {
	var k DeviceKey
	copy(k[:], priv[32:])
	return k
}

// KeyFromSeed expands a 32-byte seed into a private key (seed || public).
// The caller provides the seed's randomness.
func KeyFromSeed(seed []byte) []byte {
	h := sha512.Sum512(seed[:32])
	s, _ := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	a := new(edwards25519.Point).ScalarBaseMult(s)
	return append(append(make([]byte, 0, PrivateKeySize), seed[:32]...), a.Bytes()...)
}

func ed25519Sign(priv, msg []byte) [64]byte {
	h := sha512.Sum512(priv[:32])
	s, _ := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	mh := sha512.New()
	mh.Write(h[32:])
	mh.Write(msg)
	r, _ := new(edwards25519.Scalar).SetUniformBytes(mh.Sum(nil))
	R := new(edwards25519.Point).ScalarBaseMult(r)
	kh := sha512.New()
	kh.Write(R.Bytes())
	kh.Write(priv[32:])
	kh.Write(msg)
	k, _ := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
	S := new(edwards25519.Scalar).MultiplyAdd(k, s, r)
	var sig [64]byte
	copy(sig[:32], R.Bytes())
	copy(sig[32:], S.Bytes())
	return sig
}

func ed25519Verify(pub DeviceKey, msg []byte, sig *[64]byte) bool {
	if sig[63]&224 != 0 {
		return false
	}
	A, err := new(edwards25519.Point).SetBytes(pub[:])
	if err != nil {
		return false
	}
	kh := sha512.New()
	kh.Write(sig[:32])
	kh.Write(pub[:])
	kh.Write(msg)
	k, _ := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	// [S]B = R + [k]A  <=>  [k](-A) + [S]B = R
	minusA := new(edwards25519.Point).Negate(A)
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, S)
	return subtle.ConstantTimeCompare(sig[:32], R.Bytes()) == 1
}

// SignWith signs msg with an ed25519 private key (seed || public key):
// for messages that are not entries, such as a joiner's request signed
// with an invite's key.
func SignWith(priv, msg []byte) [64]byte { return ed25519Sign(priv, msg) }

// VerifyWith checks an ed25519 signature by pub over msg.
func VerifyWith(pub [32]byte, msg []byte, sig [64]byte) bool {
	return ed25519Verify(DeviceKey(pub), msg, &sig)
}
