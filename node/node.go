// Package node wires a Murmur node together: the data directory, the device
// key, the store and the replicated state. It is the only package that
// knows all of them; commands in cmd/ call it, and it calls store and crdt.
package node

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	gosync "sync"
	"sync/atomic"
	"time"

	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// Files in a data directory.
const (
	configName = "murmur.json"
	keyName    = "device.key"
	dbName     = "murmur.db"
	pskName    = "network.psk"
)

// Errors about the data directory.
var (
	ErrNotInitialised     = errors.New("no Murmur node in this data directory: run `murmur init --org NAME` first")
	ErrAlreadyInitialised = errors.New("this data directory already holds a node (use --dir for another)")
	ErrLocked             = errors.New("the device key is locked")
	ErrRefused            = errors.New("refused")
)

// DefaultDir is the platform's user data directory for Murmur.
func DefaultDir() (string, error) {
	home, err := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "Murmur"), nil
		}
	case "darwin":
		if err == nil {
			return filepath.Join(home, "Library", "Application Support", "Murmur"), nil
		}
	default:
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "murmur"), nil
		}
		if err == nil {
			return filepath.Join(home, ".local", "share", "murmur"), nil
		}
	}
	return "", fmt.Errorf("no data directory: set MURMUR_DIR or use --dir")
}

func dirOf(path string) string { return filepath.Dir(path) }

// config is murmur.json: who this node is. Written last by Init, so its
// presence means the directory is complete.
type config struct {
	Version int    `json:"version"`
	Network string `json:"network"`
	Org     string `json:"org"`
	Device  string `json:"device"`
	Private bool   `json:"private,omitempty"`
}

// Initialised reports whether dir holds a node.
func Initialised(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, configName))
	return err == nil
}

// Node is one organisation's device: its keys, store and state.
type Node struct {
	dir     string
	joined  []string // where the inviter's node was said to listen, after a join (InviterAddrs)
	cfg     config
	network crdt.ID
	org     crdt.OrgID
	device  crdt.DeviceKey
	store   store.Store
	state   *crdt.State
	// pool: the state holds the waiting pool (core.go). A node that has
	// only read holds a state restored for reading (crdt's
	// RestoreForReading), and the first write, or anything that judges an
	// entry, loads it whole.
	pool bool
	// mark is where the store stood when the state last matched it
	// (core.go): a write finds another process wrote when the store's
	// mark differs.
	mark store.Mark
	// head is this device's chain head and the highest clock stored as
	// this node's last Append left them, while the store's mark is still
	// head.at: the next Append then need not read them back.
	head struct {
		at       store.Mark
		head     store.Head
		maxClock crdt.Clock
	}
	// tx, while atomically runs (core.go), collects its steps.
	tx *txState
	// unchecked: the open left the database's page check for later
	// (openStore); `murmur run` does it as it starts.
	unchecked bool
	key       []byte // private key, nil until Unlock
	// runAEAD seals what a running node says of itself (runfile.go).
	runAEAD cipher.AEAD
	wall    atomic.Pointer[func() time.Time] // the wall clock: time.Now, or a test's (SetClock)

	// mu guards state, mark and the store's derived statuses: a running
	// node takes entries from gossip and reconciliation, polls the store
	// and answers status questions at the same time. Every exported method
	// locks it; unexported ones expect it held.
	mu gosync.Mutex
	// indexMu guards index too (core.go, setIndex), for readers that must
	// not wait for n.mu.
	indexMu gosync.RWMutex

	// index holds the accepted entries in reconciliation order, built
	// when first needed (indexNow) and kept equal to the accepted set by
	// each write (after); nil when not built.
	index *msync.Index
	// onOwn, while the node runs, is told of each entry of this device that
	// becomes accepted (written here or by a CLI command), to publish it.
	onOwn func(e *crdt.Entry)
	// onMembership, while the node runs, is told whenever a membership
	// entry enters or leaves the accepted set: who may connect may have
	// changed (the transport gate looks again). It must not block.
	onMembership func()
	// ring caches this device's organisation keys (cachedKeyring).
	ring    map[[32]byte][]byte
	ringFor crdt.ID
	ringLen int
	// recovering is set while the database, rebuilt by a repair or a
	// restore, has not synced with a member's node: this device signs
	// nothing (repair.go). vouched are the peers named with --peer, let
	// through the gate meanwhile.
	recovering *RepairMark
	vouched    map[peer.ID]bool
	// polledNews counts the entries of other devices that refresh found
	// in the store, stored there by another process (a bundle import):
	// the running node tells its peers (takePolledNews).
	polledNews int
	// judged, if set (tests), is told of each entry the state judges on
	// the paths from elsewhere (the gossip validator, ingest): where
	// (judgedLive, judgedIngest) and which.
	judged func(where string, id crdt.ID)
}

// InitOptions are the choices made when founding a network.
type InitOptions struct {
	Org        string // founding organisation's name
	Network    string // network's name; default "<Org> network"
	Quorum     int    // stewards needed to admit an organisation; default 1
	Private    bool   // also create a pre-shared network key
	Passphrase []byte // protects the device key; nil for none
	Now        func() time.Time
}

// Init founds a new network in dir, with this device as the first device of
// the founding organisation, and returns the node, unlocked.
func Init(ctx context.Context, dir string, opt InitOptions) (*Node, error) {
	if opt.Org == "" {
		return nil, inputErr("the organisation needs a name (--org)")
	}
	if opt.Network == "" {
		opt.Network = opt.Org + " network"
	}
	if opt.Quorum == 0 {
		opt.Quorum = 1
	}
	if opt.Quorum < 1 || opt.Quorum > crdt.MaxQuorum {
		return nil, inputErr("quorum must be between 1 and %d", crdt.MaxQuorum)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	gb := &crdt.Genesis{NetworkName: opt.Network, OrgName: opt.Org, Quorum: uint64(opt.Quorum), SealedCommitted: true}
	if err := crdt.CheckNew(gb); err != nil {
		return nil, bodyErr(err)
	}
	body, err := crdt.EncodeBody(gb)
	if err != nil {
		return nil, bodyErr(err)
	}
	seed, err := newSeed()
	if err != nil {
		return nil, err
	}
	genesis, err := crdt.Sign(crdt.KeyFromSeed(seed), crdt.Draft{Seq: 1, Clock: crdt.NextClock(0, 0, uint64(opt.Now().UnixMilli())), Kind: crdt.KindGenesis, Body: body})
	if err != nil {
		return nil, bodyErr(err)
	}
	var psk []byte
	if opt.Private {
		if psk, err = newSeed(); err != nil {
			return nil, err
		}
	}
	kf, err := sealKey(seed, crdt.PublicKeyOf(crdt.KeyFromSeed(seed)), opt.Passphrase)
	if err != nil {
		return nil, err
	}
	n, err := provision(ctx, dir, genesis, seed, crdt.OrgID{}, kf, psk, opt.Now)
	if err != nil {
		return nil, err
	}
	// The network secret of the double-funding check (grant.go): made
	// here, handed to every other member's node on admission.
	secret, err := newSeed()
	if err == nil {
		err = n.storeSecret(secret)
	}
	if err == nil {
		_, err = n.EnsureSecretCheck(ctx) // its anchor (grant.go)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("writing the network secret: %w", err)
	}
	// The founding organisation's encryption key, for sealed bodies.
	if _, err := n.EnsureOrgKey(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("publishing the organisation's key: %w", err)
	}
	// The web interface's certificate, for an interface served beyond
	// this computer (webcert.go; a node set up otherwise makes it on
	// first use).
	if _, _, err := n.WebCertificate(); err != nil {
		n.Close()
		return nil, fmt.Errorf("making the web interface's certificate: %w", err)
	}
	return n, nil
}

// ProvisionOptions set up a device of an existing network.
type ProvisionOptions struct {
	Genesis    []byte     // the network's genesis entry, as encoded
	Seed       []byte     // the device key's 32-byte seed; nil for a fresh one
	Org        crdt.OrgID // the device's organisation; zero: a new organisation, founded by this device
	Passphrase []byte     // protects the device key; nil for none
	NetworkKey []byte     // the network's pre-shared key, if it has one
	Now        func() time.Time
}

// Provision sets dir up for a device of an existing network: its key, and a
// store holding the network's genesis. The device has no standing until the
// network admits it (its organisation by the stewards, or the device by its
// organisation); what it writes before waits for that, and travels once it
// comes. Joining with an invite builds on this.
func Provision(ctx context.Context, dir string, opt ProvisionOptions) (*Node, error) {
	genesis, err := crdt.Verify(opt.Genesis)
	if err != nil || genesis.Kind != crdt.KindGenesis {
		return nil, fmt.Errorf("not a genesis entry: %v", err)
	}
	seed := opt.Seed
	if seed == nil {
		if seed, err = newSeed(); err != nil {
			return nil, err
		}
	}
	if len(seed) != 32 {
		return nil, fmt.Errorf("a device seed has 32 bytes, not %d", len(seed))
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	kf, err := sealKey(seed, crdt.PublicKeyOf(crdt.KeyFromSeed(seed)), opt.Passphrase)
	if err != nil {
		return nil, err
	}
	return provision(ctx, dir, genesis, seed, opt.Org, kf, opt.NetworkKey, opt.Now)
}

// provision writes a data directory: key file (kf; nil when joining, whose
// key file is there already and stays), network key, database with the
// genesis entry, and last the configuration, whose presence means the
// directory is complete. On failure it removes what it wrote.
func provision(ctx context.Context, dir string, genesis *crdt.Entry, seed []byte, org crdt.OrgID, kf *keyFile, psk []byte, now func() time.Time) (n *Node, err error) {
	if Initialised(dir) {
		return nil, ErrAlreadyInitialised
	}
	leftovers := []string{dbName}
	if kf != nil {
		leftovers = append(leftovers, keyName)
	}
	for _, leftover := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, leftover)); err == nil {
			return nil, fmt.Errorf("%s holds %s but no %s: an interrupted init or a damaged data directory; nothing was changed — move it aside or choose another --dir", dir, leftover, configName)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var created []string
	defer func() {
		if err != nil { // leave nothing half-made behind
			for _, p := range created {
				os.Remove(p)
			}
		}
	}()
	priv := crdt.KeyFromSeed(seed)
	device := crdt.PublicKeyOf(priv)
	if org == (crdt.OrgID{}) {
		org = crdt.OrgIDFor(device)
	}
	if kf != nil {
		kb, _ := json.MarshalIndent(kf, "", "  ")
		keyPath := filepath.Join(dir, keyName)
		if err := writeFileAtomic(keyPath, kb, 0o600); err != nil {
			return nil, fmt.Errorf("writing device key: %w", err)
		}
		created = append(created, keyPath)
	}
	if psk != nil { // sealed, as the network secret is (keys.go)
		pskPath := filepath.Join(dir, pskName)
		if err := sealAtRest(pskPath, priv, device, genesis.ID(), "network-key", psk); err != nil {
			return nil, fmt.Errorf("writing network key: %w", err)
		}
		created = append(created, pskPath)
	}
	dbPath := filepath.Join(dir, dbName)
	created = append(created, dbPath, dbPath+"-wal", dbPath+"-shm")
	sk, err := storeKey(priv, device)
	if err != nil {
		return nil, err
	}
	if err := createStore(ctx, dir, sk, genesis); err != nil {
		return nil, err
	}
	netID := genesis.ID()
	cfg := config{Version: 1, Network: netID.String(), Org: org.String(), Device: device.String(), Private: psk != nil}
	cb, _ := json.MarshalIndent(cfg, "", "  ")
	cfgPath := filepath.Join(dir, configName)
	if err := writeFileAtomic(cfgPath, cb, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", cfgPath, err)
	}
	created = append(created, cfgPath)
	if n, err = open(ctx, dir, priv); err != nil {
		return nil, err
	}
	n.wall.Store(&now)
	n.key = priv
	return n, nil
}

// Genesis is the network's genesis entry, as encoded.
func (n *Node) Genesis() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, _, _ := n.state.Entry(n.network)
	return e.Raw()
}

// initialised says why dir holds no node to open, if it does not: none at
// all, or one whose join is not complete (for which `murmur init` would be
// the wrong advice: it founds another network).
func initialised(dir string) error {
	switch {
	case Initialised(dir):
		return nil
	case Joining(dir):
		return ErrJoining
	}
	return ErrNotInitialised
}

// Open opens the node in dir and loads its state. The database is sealed
// under the device key (store/seal.go), so Open reads the key; a data
// directory protected by a passphrase therefore needs OpenWith, and Open
// refuses it with ErrNeedPassphrase. Without a passphrase the device key
// stays locked for writing (see Unlock).
func Open(ctx context.Context, dir string) (*Node, error) {
	if err := initialised(dir); err != nil {
		return nil, err
	}
	priv, err := readDeviceKey(dir, nil)
	if err != nil {
		return nil, err
	}
	return open(ctx, dir, priv)
}

// OpenWith opens the node in dir, asking pass for the passphrase if the
// device key has one, and leaves the key unlocked. A wrong passphrase is
// refused before anything is read.
func OpenWith(ctx context.Context, dir string, pass PassphraseSource) (*Node, error) {
	if err := initialised(dir); err != nil {
		return nil, err
	}
	priv, err := readDeviceKey(dir, pass)
	if err != nil {
		return nil, err
	}
	n, err := open(ctx, dir, priv)
	if err != nil {
		return nil, err
	}
	n.key = priv
	return n, nil
}

// readDeviceKey reads the device key of dir, asking pass for the
// passphrase if it has one.
func readDeviceKey(dir string, pass PassphraseSource) ([]byte, error) {
	seed, err := readDeviceSeed(dir, pass)
	if err != nil {
		return nil, err
	}
	return crdt.KeyFromSeed(seed), nil
}

// readDeviceSeed reads the seed of dir's device key, asking pass for the
// passphrase if it has one.
func readDeviceSeed(dir string, pass PassphraseSource) ([]byte, error) {
	kf, err := readKeyFile(filepath.Join(dir, keyName))
	if err != nil {
		return nil, err
	}
	var p []byte
	if kf.Protected() {
		if pass == nil {
			return nil, ErrNeedPassphrase
		}
		if p, err = pass(); err != nil {
			return nil, err
		}
	}
	return kf.open(p)
}

// open opens the node in dir whose device key is priv, locked.
func open(ctx context.Context, dir string, priv []byte) (*Node, error) {
	b, err := os.ReadFile(filepath.Join(dir, configName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotInitialised
	}
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	n := &Node{dir: dir}
	now := time.Now
	n.wall.Store(&now)
	if err := json.Unmarshal(b, &n.cfg); err != nil || n.cfg.Version != 1 {
		return nil, fmt.Errorf("%s is damaged or from a newer release", configName)
	}
	if n.network, err = crdt.ParseID(n.cfg.Network); err == nil {
		if n.org, err = crdt.ParseOrgID(n.cfg.Org); err == nil {
			n.device, err = crdt.ParseDeviceKey(n.cfg.Device)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", configName, err)
	}
	if crdt.PublicKeyOf(priv) != n.device {
		return nil, fmt.Errorf("the device key does not belong to this node's device")
	}
	sk, err := storeKey(priv, n.device)
	if err != nil {
		return nil, err
	}
	if n.runAEAD, err = atRestAEAD(priv, n.device, "run"); err != nil {
		return nil, err
	}
	if n.store, n.unchecked, err = openStore(ctx, dir, sk); err != nil {
		return nil, err
	}
	if meta, err := n.store.GetMeta(ctx, "network"); err != nil || string(meta) != string(n.network[:]) {
		n.store.Close()
		return nil, fmt.Errorf("the database in %s is not this node's network's (%v)", dir, err)
	}
	// A store from before the state lived in it is given its keys once.
	needs, err := n.store.NeedsKeys(ctx)
	if err == nil && needs {
		err = n.reindex(ctx)
	}
	if err != nil {
		n.store.Close()
		return nil, damaged(dir, err)
	}
	if err := n.Refresh(ctx); err != nil {
		n.store.Close()
		return nil, damaged(dir, err)
	}
	n.recovering = n.loadMark(ctx)
	n.keepGenesis(priv)
	return n, nil
}

// Close releases the store. It is safe to call twice.
func (n *Node) Close() error { return n.store.Close() }

// PassphraseSource supplies the passphrase when the key needs one.
type PassphraseSource func() ([]byte, error)

// Protected reports whether the device key needs a passphrase.
func (n *Node) Protected() (bool, error) {
	kf, err := readKeyFile(filepath.Join(n.dir, keyName))
	if err != nil {
		return false, err
	}
	return kf.Protected(), nil
}

// CheckPassphrase reports whether pass opens this node's device key
// (ErrWrongPassphrase if not): the web interface's lock. It costs the
// key's KDF.
func (n *Node) CheckPassphrase(pass []byte) error {
	priv, err := readDeviceKey(n.dir, func() ([]byte, error) { return pass, nil })
	if err != nil {
		return err
	}
	if crdt.PublicKeyOf(priv) != n.device {
		return fmt.Errorf("the device key does not belong to this node's device")
	}
	return nil
}

// EntryCount is how many entries the node holds accepted: it grows with
// every entry taken in (the web interface's live feed watches it).
func (n *Node) EntryCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state.Counts().Accepted
}

// Unlock reads the device key, asking for the passphrase if it is sealed.
func (n *Node) Unlock(pass PassphraseSource) error {
	if n.key != nil {
		return nil
	}
	priv, err := readDeviceKey(n.dir, pass)
	if err != nil {
		return err
	}
	if crdt.PublicKeyOf(priv) != n.device {
		return fmt.Errorf("the device key does not belong to this node's device")
	}
	n.key = priv
	return nil
}

// Refresh brings the state up to what the store holds, if it does not
// match it (at open; later, when another process wrote).
func (n *Node) Refresh(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.refresh(ctx)
}

// refresh is Refresh with n.mu held. Loading reads the store without
// taking its write lock (a command that only reads does not wait for a
// running node's writes); corrections, if the state finds any, are
// stored by a write.
func (n *Node) refresh(ctx context.Context) error {
	at, err := n.store.Mark(ctx)
	if err != nil {
		return err
	}
	if at == n.mark && n.state != nil {
		return nil
	}
	fixes, err := n.load(ctx, at, n.pool)
	if err != nil {
		return err
	}
	if fixes.Empty() {
		return nil
	}
	return n.catchUp(ctx)
}

// takePolledNews returns, and forgets, how many entries of other devices
// the refreshes since the last call found in the store.
func (n *Node) takePolledNews() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := n.polledNews
	n.polledNews = 0
	return k
}

// sealLater is a body that append builds once it knows the entry's
// sequence number (a sealed body binds it).
type sealLater func(seq uint64) (any, error)

// bodyErr marks a signing failure caused by what a person typed (a control
// character in a title, a name over the length limit: Sign checks the body
// as peers will) as an input error, so the CLI exits with status 2.
func bodyErr(err error) error {
	if errors.Is(err, crdt.ErrInvalid) || errors.Is(err, crdt.ErrMalformed) || errors.Is(err, crdt.ErrTooLarge) {
		return inputError{msg: err.Error(), err: err}
	}
	return err
}

func recordOf(e *crdt.Entry, st crdt.Status) store.Record {
	return store.Record{ID: e.ID(), Author: e.Author, Seq: e.Seq, Clock: e.Clock, Kind: e.Kind, Status: st, Raw: e.Raw()}
}

// Append signs a new entry of this device, checks that the state accepts
// it, and stores it durably: when Append returns nil the entry survives a
// crash or power loss. A refused entry is not stored.
func (n *Node) Append(ctx context.Context, body any, deps ...crdt.ID) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.append(ctx, body, deps...)
}

func (n *Node) append(ctx context.Context, body any, deps ...crdt.ID) (*crdt.Entry, error) {
	if n.key == nil {
		return nil, ErrLocked
	}
	if err := n.refuseWhileRecovering(); err != nil {
		return nil, err
	}
	var raw []byte
	encode := func(b any) error {
		var err error
		raw, err = crdt.EncodeBody(b)
		if errors.Is(err, crdt.ErrTooLarge) {
			return inputErr("%v", err)
		}
		return err
	}
	later, sealing := body.(sealLater)
	if !sealing {
		if err := crdt.CheckNew(body); err != nil { // names as they are written now
			return nil, bodyErr(err)
		}
		if err := encode(body); err != nil {
			return nil, err
		}
	}
	var e *crdt.Entry
	var high crdt.Clock // the highest clock stored, with e
	_, err := n.write(ctx, func() (crdt.Ready, error) {
		// (write brought the state up to what the store holds: another
		// process may have stored entries, the other copy's among them.)
		if err := n.forkedNotice(); err != nil {
			return crdt.Ready{}, err
		}
		head, maxClock := n.head.head, n.head.maxClock
		if n.head.at == (store.Mark{}) || n.head.at != n.mark {
			var err error
			if head, maxClock, err = n.store.ChainHead(ctx, n.device); err != nil {
				return crdt.Ready{}, err
			}
		}
		if n.tx != nil { // (entries written earlier in this transaction)
			for _, r := range n.tx.batch.Put {
				if r.Author == n.device && r.Seq > head.Seq {
					head = store.Head{Seq: r.Seq, ID: r.ID, Clock: r.Clock}
				}
				maxClock = max(maxClock, r.Clock)
			}
		}
		clock := crdt.NextClock(head.Clock, max(maxClock, n.state.MaxClock()), uint64(n.now().UnixMilli()))
		kind := crdt.KindOf(body)
		if sealing { // its binding names the entry's sequence number, known only now
			b, err := later(head.Seq + 1)
			if err != nil {
				return crdt.Ready{}, err
			}
			if err := encode(b); err != nil {
				return crdt.Ready{}, err
			}
			kind = crdt.KindOf(b)
		}
		cand, err := crdt.Sign(n.key, crdt.Draft{Network: n.network, Seq: head.Seq + 1, Prev: head.ID, Clock: clock, Deps: deps, Kind: kind, Body: raw})
		if err != nil {
			return crdt.Ready{}, bodyErr(err)
		}
		// The state judges it once; an entry it does not accept is not
		// stored (write loads the state again without it).
		results, ready := n.state.Step([]*crdt.Entry{cand})
		if res := results[0]; res.Status != crdt.StatusAccepted || res.Duplicate {
			why := res.Reason
			if res.Duplicate {
				why = fmt.Errorf("an entry at seq %d is stored already", cand.Seq)
			}
			if notice := n.revokedNotice(); notice != nil && errors.Is(why, crdt.ErrRevoked) {
				return crdt.Ready{}, notice // who revoked this device, and when
			}
			return crdt.Ready{}, fmt.Errorf("%w: %w", ErrRefused, why)
		}
		e, high = cand, max(maxClock, cand.Clock)
		return ready, nil
	})
	if err != nil {
		return nil, err
	}
	if n.tx == nil { // (stored: n.mark is where the store stands now)
		n.head.at, n.head.head, n.head.maxClock = n.mark, store.Head{Seq: e.Seq, ID: e.ID(), Clock: e.Clock}, high
	}
	return e, nil
}

// State is the node's replicated state. Read it; do not apply to it.
func (n *Node) State() *crdt.State { return n.state }

// Network, Org and Device identify the node.
func (n *Node) Network() crdt.ID       { return n.network }
func (n *Node) Org() crdt.OrgID        { return n.org }
func (n *Node) Device() crdt.DeviceKey { return n.device }
func (n *Node) Dir() string            { return n.dir }

// Store is the node's store.
func (n *Node) Store() store.Store { return n.store }

// PeerID is the libp2p peer ID of a device: the device key is the node's
// network identity, so membership can be checked by peer ID.
func PeerID(k crdt.DeviceKey) (peer.ID, error) {
	pub, err := lpcrypto.UnmarshalEd25519PublicKey(k[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}
