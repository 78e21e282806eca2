package node

// Backups (murmur backup, murmur restore). A backup is one file holding
// what a data directory needs to come back on another machine: the device
// key's seed, the settings, the network key and secret, the secrets of
// this device's open invites, every stored entry and the remembered
// addresses of members' nodes. All of it is sealed with XChaCha20-Poly1305
// under a key derived from the passphrase by argon2id, with the parameters
// the device key at rest uses (keys.go: defaultKDF); the device and the
// network are bound in as associated data. Only a directory whose device
// key has no passphrase (a throwaway test network) may be backed up
// without one, and then the backup is no better protected than that
// directory: its key is readable by whoever holds the file.
//
// A restored database is a rebuilt one: it lacks what this device wrote
// after the backup, so it carries the repair mark (repair.go) and signs
// nothing until it has synced with a member's node.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// backupFile is a backup on disk.
type backupFile struct {
	Format    string    `json:"format"` // "murmur-backup"
	Version   int       `json:"version"`
	Device    string    `json:"device"`
	Network   string    `json:"network"`
	Protected bool      `json:"protected"`
	KDF       kdf       `json:"kdf"`
	Nonce     []byte    `json:"nonce"`
	Sealed    []byte    `json:"sealed"`
	Written   time.Time `json:"written"`
}

// backupContent is what a backup seals.
type backupContent struct {
	Config     json.RawMessage `json:"config"`
	Seed       []byte          `json:"seed"`
	NetworkKey []byte          `json:"network_key,omitempty"`
	Secret     []byte          `json:"secret,omitempty"`
	Doors      []byte          `json:"doors,omitempty"`
	Entries    [][]byte        `json:"entries"`
	Contacts   []store.Contact `json:"contacts,omitempty"`
}

func backupAD(device, network string) []byte {
	return []byte("murmur-backup-v1\n" + device + "\n" + network)
}

// BackupReport says what a backup holds.
type BackupReport struct {
	File      string `json:"file"`
	Entries   int    `json:"entries"`
	Digest    string `json:"digest"` // as status prints it: equal on nodes holding the same valid entries
	Contacts  int    `json:"contacts"`
	Protected bool   `json:"protected"`
}

// ErrNeedBackupPassphrase refuses a backup without a passphrase.
var ErrNeedBackupPassphrase = errors.New("a backup holds this device's key: give it a passphrase (at the prompt or in MURMUR_PASSPHRASE)")

// Backup writes a backup of the node to path, sealed under passphrase.
// A nil passphrase is allowed only if the device key itself has none.
// The node must be unlocked. An existing file at path is not replaced.
func (n *Node) Backup(ctx context.Context, path string, passphrase []byte) (*BackupReport, error) {
	if n.key == nil {
		return nil, ErrLocked
	}
	protected, err := n.Protected()
	if err != nil {
		return nil, err
	}
	if passphrase == nil && protected {
		return nil, ErrNeedBackupPassphrase
	}
	if _, err := os.Stat(path); err == nil {
		return nil, inputErr("%s exists already: choose another file name (nothing was written)", path)
	}
	c := backupContent{Seed: n.key[:32]}
	if c.Config, err = os.ReadFile(filepath.Join(n.dir, configName)); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, purpose string
		into          *[]byte
	}{{pskName, "network-key", &c.NetworkKey}, {secretName, "network-secret", &c.Secret}, {doorsName, "door-secrets", &c.Doors}} {
		b, err := openAtRest(filepath.Join(n.dir, f.name), n.key, n.device, n.network, f.purpose)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w (see `murmur doctor`)", f.name, err)
		}
		*f.into = b
	}
	if _, err := n.store.Scan(ctx, 0, func(_ int64, r store.Record) error {
		c.Entries = append(c.Entries, r.Raw)
		return nil
	}); err != nil {
		return nil, damaged(n.dir, err)
	}
	if c.Contacts, err = n.store.Contacts(ctx); err != nil {
		return nil, damaged(n.dir, err)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	bf := backupFile{Format: "murmur-backup", Version: 1, Device: n.device.String(), Network: n.network.String(), Protected: passphrase != nil, KDF: defaultKDF, Written: time.Now().UTC()}
	bf.KDF.Salt = make([]byte, 16)
	bf.Nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(bf.KDF.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(bf.Nonce); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(argon2.IDKey(passphrase, bf.KDF.Salt, bf.KDF.Time, bf.KDF.Memory, bf.KDF.Threads, chacha20poly1305.KeySize))
	if err != nil {
		return nil, err
	}
	bf.Sealed = aead.Seal(nil, bf.Nonce, plain, backupAD(bf.Device, bf.Network))
	out, _ := json.Marshal(bf)
	if err := writeFileAtomic(path, out, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &BackupReport{File: path, Entries: len(c.Entries), Digest: n.Status().Digest, Contacts: len(c.Contacts), Protected: bf.Protected}, nil
}

// RestoreReport says what a restore brought back.
type RestoreReport struct {
	Dir     string    `json:"dir"`
	Network string    `json:"network"`
	Device  string    `json:"device"`
	Written time.Time `json:"backup_written"`
	// Entries counts what the backup brought back and this node stores,
	// as the backup counted them: those in place, and those that wait
	// (Waiting: for an earlier entry the backup did not hold; Held: from a
	// device without standing, as far as this node knows yet).
	Entries int    `json:"entries"`
	Waiting int    `json:"waiting"`
	Held    int    `json:"held"`
	Digest  string `json:"digest"` // as status prints it
	Refused int    `json:"refused"`
	OwnHead uint64 `json:"own_head"`
}

// ErrNotEmpty refuses a restore into a directory that holds anything.
var ErrNotEmpty = errors.New("the data directory is not empty: restore into a new, empty one (--dir)")

// Restore brings the backup at file back into dir, which must be empty
// or not exist, asking pass for the backup's passphrase if it has one.
// The device key is kept at rest under the same passphrase. The restored
// node signs nothing until it has synced with a member's node (repair.go).
// On failure, nothing is left in dir.
func Restore(ctx context.Context, file, dir string, pass PassphraseSource) (rep *RestoreReport, err error) {
	if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return nil, ErrNotEmpty
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, inputErr("reading the backup: %v", err)
	}
	var bf backupFile
	if err := json.Unmarshal(raw, &bf); err != nil || bf.Format != "murmur-backup" {
		return nil, inputErr("%s is not a Murmur backup (or it is damaged)", file)
	}
	if bf.Version != 1 {
		return nil, fmt.Errorf("%s is a backup from a newer release of murmur: upgrade to restore it", file)
	}
	k := bf.KDF
	if k.Name != "argon2id" || k.Memory > 4<<20 || k.Time > 100 || k.Threads == 0 || len(bf.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("%s uses key derivation this release does not read, or is damaged", file)
	}
	var passphrase []byte
	if bf.Protected {
		if pass == nil {
			return nil, ErrNeedPassphrase
		}
		if passphrase, err = pass(); err != nil {
			return nil, err
		}
	}
	aead, err := chacha20poly1305.NewX(argon2.IDKey(passphrase, k.Salt, k.Time, k.Memory, k.Threads, chacha20poly1305.KeySize))
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, bf.Nonce, bf.Sealed, backupAD(bf.Device, bf.Network))
	if err != nil {
		if bf.Protected {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%s is damaged: it does not open", file)
	}
	var c backupContent
	if err := json.Unmarshal(plain, &c); err != nil || len(c.Seed) != 32 {
		return nil, fmt.Errorf("%s is damaged", file)
	}
	var cfg config
	if err := json.Unmarshal(c.Config, &cfg); err != nil || cfg.Version != 1 {
		return nil, fmt.Errorf("%s holds settings this release does not read", file)
	}
	priv := crdt.KeyFromSeed(c.Seed)
	device := crdt.PublicKeyOf(priv)
	network, err := crdt.ParseID(cfg.Network)
	if err != nil || device.String() != cfg.Device || cfg.Device != bf.Device || cfg.Network != bf.Network {
		return nil, fmt.Errorf("%s is damaged: its key, settings and label disagree", file)
	}
	var genesis *crdt.Entry
	for _, r := range c.Entries {
		if e, err := crdt.Verify(r); err == nil && e.Kind == crdt.KindGenesis && e.ID() == network {
			genesis = e
			break
		}
	}
	if genesis == nil {
		return nil, fmt.Errorf("%s does not hold the network's founding entry: it is damaged", file)
	}

	// Write the directory; on failure, empty it again.
	made := false
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		made = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		if made {
			os.RemoveAll(dir)
			return
		}
		des, _ := os.ReadDir(dir)
		for _, de := range des {
			os.RemoveAll(filepath.Join(dir, de.Name()))
		}
	}()
	kf, err := sealKey(c.Seed, device, passphrase)
	if err != nil {
		return nil, err
	}
	kb, _ := json.MarshalIndent(kf, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, keyName), kb, 0o600); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, purpose string
		secret        []byte
	}{{pskName, "network-key", c.NetworkKey}, {secretName, "network-secret", c.Secret}, {doorsName, "door-secrets", c.Doors}} {
		if f.secret == nil {
			continue
		}
		if err := sealAtRest(filepath.Join(dir, f.name), priv, device, network, f.purpose, f.secret); err != nil {
			return nil, err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, configName), c.Config, 0o600); err != nil {
		return nil, err
	}
	n, err := rebuild(ctx, dir, priv, genesis)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	refused, err := n.ingestAll(ctx, c.Entries)
	if err != nil {
		return nil, err
	}
	for _, ct := range c.Contacts {
		n.store.RecordContact(ctx, ct.Device, ct.Last, ct.Via, ct.Addr)
	}
	entries, head := n.storedSummary()
	n.mu.Lock()
	counts := n.state.Counts()
	n.mu.Unlock()
	if err := n.markRebuilt(ctx, RepairMark{When: time.Now(), How: "restore", OwnHead: head, From: file}); err != nil {
		return nil, err
	}
	return &RestoreReport{Dir: dir, Network: cfg.Network, Device: cfg.Device, Written: bf.Written, Entries: entries + counts.Waiting + counts.Held, Waiting: counts.Waiting, Held: counts.Held, Digest: n.Status().Digest, Refused: refused, OwnHead: head}, nil
}

// KeyProtected reports whether the device key in dir has a passphrase.
func KeyProtected(dir string) (bool, error) {
	if !Initialised(dir) {
		return false, ErrNotInitialised
	}
	kf, err := readKeyFile(filepath.Join(dir, keyName))
	if err != nil {
		return false, err
	}
	return kf.Protected(), nil
}
