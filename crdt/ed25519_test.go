package crdt

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"filippo.io/edwards25519"
)

// refSign and refVerify are an independent Ed25519 (RFC 8032) over
// filippo.io/edwards25519, with crypto/ed25519's checks (canonical S,
// cofactorless equation): the cross-check below holds the package's
// signatures to a second implementation, and the vectors hold both.
func refSign(priv, msg []byte) [64]byte {
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

func refPublic(seed []byte) DeviceKey {
	h := sha512.Sum512(seed[:32])
	s, _ := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	var k DeviceKey
	copy(k[:], new(edwards25519.Point).ScalarBaseMult(s).Bytes())
	return k
}

func refVerify(pub DeviceKey, msg []byte, sig *[64]byte) bool {
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

// The package's keys and signatures must be exactly the reference's: same
// keys, same signatures, same verdict on every tampered signature.
func TestEd25519MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(rng.UintN(256))
		}
		priv := KeyFromSeed(seed)
		pub := PublicKeyOf(priv)
		if pub != refPublic(seed) {
			t.Fatalf("key %d differs", i)
		}
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = byte(rng.UintN(256))
		}
		sig := ed25519Sign(priv, msg)
		if sig != refSign(priv, msg) {
			t.Fatalf("signature %d differs", i)
		}
		if !ed25519Verify(pub, msg, &sig) || !refVerify(pub, msg, &sig) {
			t.Fatalf("own signature %d refused", i)
		}
		// Tamper with one bit anywhere.
		bad := sig
		bad[rng.IntN(64)] ^= 1 << rng.IntN(8)
		if got, want := ed25519Verify(pub, msg, &bad), refVerify(pub, msg, &bad); got != want || got {
			t.Fatalf("tampered signature %d: package %v, reference %v", i, got, want)
		}
	}
}

func TestEd25519RFC8032(t *testing.T) {
	// RFC 8032 section 7.1, test 2.
	seed, _ := hex.DecodeString("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	want, _ := hex.DecodeString("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
	for name, sig := range map[string][64]byte{"package": ed25519Sign(KeyFromSeed(seed), []byte{0x72}), "reference": refSign(KeyFromSeed(seed), []byte{0x72})} {
		if hex.EncodeToString(sig[:]) != hex.EncodeToString(want) {
			t.Fatalf("%s: got %x", name, sig)
		}
	}
	// The identity as public key, with an identity R and S = 0: the
	// cofactorless equation holds, for any message, in both.
	var identity DeviceKey
	identity[0] = 1
	var s [64]byte
	s[0] = 1
	if got, ref := ed25519Verify(identity, []byte("x"), &s), refVerify(identity, []byte("x"), &s); got != ref {
		t.Fatalf("identity key: package %v, reference %v", got, ref)
	}
}

// TestEd25519Wycheproof runs Project Wycheproof's Ed25519 verification
// vectors (testdata/wycheproof_ed25519_test.json, from C2SP/wycheproof's
// testvectors_v1, Apache License 2.0) through the package and the
// reference. A signature that is not 64 bytes cannot be expressed in
// either's API: it counts as refused.
func TestEd25519Wycheproof(t *testing.T) {
	raw, err := os.ReadFile("testdata/wycheproof_ed25519_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		NumberOfTests int `json:"numberOfTests"`
		TestGroups    []struct {
			PublicKey struct {
				PK string `json:"pk"`
			} `json:"publicKey"`
			Tests []struct {
				TcID    int    `json:"tcId"`
				Comment string `json:"comment"`
				Msg     string `json:"msg"`
				Sig     string `json:"sig"`
				Result  string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	ran, valid := 0, 0
	for _, g := range file.TestGroups {
		pk, err := hex.DecodeString(g.PublicKey.PK)
		if err != nil || len(pk) != 32 {
			t.Fatalf("public key %q", g.PublicKey.PK)
		}
		pub := DeviceKey(pk)
		for _, tc := range g.Tests {
			msg, err1 := hex.DecodeString(tc.Msg)
			sigb, err2 := hex.DecodeString(tc.Sig)
			if err1 != nil || err2 != nil {
				t.Fatalf("test %d: bad hex", tc.TcID)
			}
			got, ref := false, false
			if len(sigb) == 64 {
				sig := [64]byte(sigb)
				got, ref = ed25519Verify(pub, msg, &sig), refVerify(pub, msg, &sig)
			}
			if want := tc.Result == "valid"; got != want || ref != want {
				t.Errorf("test %d (%s): package %v, reference %v, want %v", tc.TcID, tc.Comment, got, ref, want)
			}
			if tc.Result == "valid" {
				valid++
			}
			ran++
		}
	}
	if ran != file.NumberOfTests || ran < 150 || valid == 0 {
		t.Fatalf("ran %d of %d vectors (%d valid)", ran, file.NumberOfTests, valid)
	}
}

// A private key whose public half is not its seed's is refused, not
// signed with.
func TestSignRefusesMismatchedKey(t *testing.T) {
	priv := KeyFromSeed(make([]byte, 32))
	priv[40] ^= 1
	if _, err := Sign(priv, Draft{Seq: 1, Clock: 1, Kind: KindGenesis, Body: []byte("x")}); err == nil {
		t.Fatal("signed with a mismatched key")
	}
}
