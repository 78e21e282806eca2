package node

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// ErrWrongPassphrase is returned when the passphrase does not open the key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrNeedPassphrase is returned by a passphrase source that has none to give.
var ErrNeedPassphrase = errors.New("this data directory is protected by a passphrase: type it at the prompt, set MURMUR_PASSPHRASE, or name a file holding it in MURMUR_PASSPHRASE_FILE")

// keyFile is the device key at rest. With a passphrase, the seed is sealed
// with XChaCha20-Poly1305 under a key derived by argon2id; the device's
// public key is bound in as associated data.
type keyFile struct {
	Version int    `json:"version"`
	Device  string `json:"device"`
	Seed    []byte `json:"seed,omitempty"` // only without a passphrase
	KDF     *kdf   `json:"kdf,omitempty"`
	Nonce   []byte `json:"nonce,omitempty"`
	Sealed  []byte `json:"sealed,omitempty"`
}

type kdf struct {
	Name    string `json:"name"` // argon2id
	Salt    []byte `json:"salt"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
}

// argon2id parameters: about a quarter of a second on the 2-core machines
// here, above the OWASP minimum (19 MiB, 2 passes).
var defaultKDF = kdf{Name: "argon2id", Time: 3, Memory: 64 << 10, Threads: 2}

func newSeed() ([]byte, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	return seed, nil
}

func sealKey(seed []byte, device crdt.DeviceKey, passphrase []byte) (*keyFile, error) {
	kf := &keyFile{Version: 1, Device: device.String()}
	if passphrase == nil {
		kf.Seed = seed
		return kf, nil
	}
	k := defaultKDF
	k.Salt = make([]byte, 16)
	kf.Nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(k.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(kf.Nonce); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(argon2.IDKey(passphrase, k.Salt, k.Time, k.Memory, k.Threads, chacha20poly1305.KeySize))
	if err != nil {
		return nil, err
	}
	kf.KDF = &k
	kf.Sealed = aead.Seal(nil, kf.Nonce, seed, []byte("murmur-device-key-v1\n"+kf.Device))
	return kf, nil
}

// Protected reports whether opening the key needs a passphrase.
func (kf *keyFile) Protected() bool { return kf.Sealed != nil }

func (kf *keyFile) open(passphrase []byte) ([]byte, error) {
	if !kf.Protected() {
		if len(kf.Seed) != 32 {
			return nil, fmt.Errorf("key file holds no usable key")
		}
		return kf.Seed, nil
	}
	if kf.KDF == nil || kf.KDF.Name != "argon2id" || kf.KDF.Memory > 4<<20 || kf.KDF.Time > 100 || kf.KDF.Threads == 0 {
		return nil, fmt.Errorf("key file uses key derivation this release does not read")
	}
	k := kf.KDF
	aead, err := chacha20poly1305.NewX(argon2.IDKey(passphrase, k.Salt, k.Time, k.Memory, k.Threads, chacha20poly1305.KeySize))
	if err != nil {
		return nil, err
	}
	if len(kf.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("key file is damaged")
	}
	seed, err := aead.Open(nil, kf.Nonce, kf.Sealed, []byte("murmur-device-key-v1\n"+kf.Device))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return seed, nil
}

func readKeyFile(path string) (*keyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading device key: %w", err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Version != 1 {
		return nil, fmt.Errorf("device key file %s is damaged or from a newer release", path)
	}
	return &kf, nil
}

// writeFileAtomic writes a file that is either wholly there or not at all,
// and durable once this returns.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dirOf(path)); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// storeKey is the key the database is sealed under (store/seal.go),
// derived (HKDF-SHA256) from the device key's seed for that purpose alone.
// Without a passphrase the seed is in clear beside the database, so the
// sealing then keeps out only someone who copies the database alone.
func storeKey(priv []byte, device crdt.DeviceKey) ([]byte, error) {
	return atRestKey(priv, device, "store", store.KeySize)
}

// atRestKey derives from the device seed a key of size bytes for one
// purpose (HKDF-SHA256, the purpose and the device in its info).
func atRestKey(priv []byte, device crdt.DeviceKey, purpose string, size int) ([]byte, error) {
	k := make([]byte, size)
	if _, err := io.ReadFull(hkdf.New(sha256.New, priv[:32], nil, []byte("murmur-"+purpose+"-v1\n"+device.String())), k); err != nil {
		return nil, err
	}
	return k, nil
}

// Small secrets at rest (the network secret, the network key) are sealed
// with XChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the device
// key's seed: opening them takes the unlocked device key, so they are as
// safe as the device key, which the passphrase protects.
type atRestFile struct {
	Version int    `json:"version"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"`
}

func atRestAEAD(priv []byte, device crdt.DeviceKey, purpose string) (cipher.AEAD, error) {
	if priv == nil {
		return nil, ErrLocked
	}
	k, err := atRestKey(priv, device, purpose, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(k)
}

func sealAtRest(path string, priv []byte, device crdt.DeviceKey, network crdt.ID, purpose string, secret []byte) error {
	aead, err := atRestAEAD(priv, device, purpose)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	ad := []byte("murmur-" + purpose + "-v1\n" + network.String())
	b, _ := json.Marshal(atRestFile{Version: 1, Nonce: nonce, Sealed: aead.Seal(nil, nonce, secret, ad)})
	return writeFileAtomic(path, b, 0o600)
}

func openAtRest(path string, priv []byte, device crdt.DeviceKey, network crdt.ID, purpose string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f atRestFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("%s is damaged or from a newer release", path)
	}
	aead, err := atRestAEAD(priv, device, purpose)
	if err != nil {
		return nil, err
	}
	if len(f.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%s is damaged", path)
	}
	secret, err := aead.Open(nil, f.Nonce, f.Sealed, []byte("murmur-"+purpose+"-v1\n"+network.String()))
	if err != nil {
		return nil, fmt.Errorf("%s does not open with this device's key: it is damaged or from another device", path)
	}
	return secret, nil
}
