package crdt

import (
	"crypto/ed25519"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// The signatures here must be exactly crypto/ed25519's: same keys, same
// signatures, same verdict on every tampered signature.
func TestEd25519MatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(rng.UintN(256))
		}
		std := ed25519.NewKeyFromSeed(seed)
		ours := KeyFromSeed(seed)
		if string(std) != string(ours) {
			t.Fatalf("key %d differs", i)
		}
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = byte(rng.UintN(256))
		}
		sig := ed25519Sign(ours, msg)
		if string(sig[:]) != string(ed25519.Sign(std, msg)) {
			t.Fatalf("signature %d differs", i)
		}
		pub := PublicKeyOf(ours)
		if !ed25519Verify(pub, msg, &sig) {
			t.Fatalf("own signature %d refused", i)
		}
		// Tamper with one bit anywhere, or use a non-canonical S.
		bad := sig
		bad[rng.IntN(64)] ^= 1 << rng.IntN(8)
		if got, want := ed25519Verify(pub, msg, &bad), ed25519.Verify(std.Public().(ed25519.PublicKey), msg, bad[:]); got != want {
			t.Fatalf("tampered signature %d: ours %v, stdlib %v", i, got, want)
		}
	}
}

func TestEd25519RFC8032(t *testing.T) {
	// RFC 8032 section 7.1, test 2.
	seed, _ := hex.DecodeString("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	want, _ := hex.DecodeString("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
	sig := ed25519Sign(KeyFromSeed(seed), []byte{0x72})
	if hex.EncodeToString(sig[:]) != hex.EncodeToString(want) {
		t.Fatalf("got %x", sig)
	}
	// A small-order public key with an identity R is refused as stdlib does.
	var zero DeviceKey
	zero[0] = 1
	var s [64]byte
	s[0] = 1
	if ed25519Verify(zero, []byte("x"), &s) != ed25519.Verify(zero[:], []byte("x"), s[:]) {
		t.Fatal("small-order key verdict differs from stdlib")
	}
}
