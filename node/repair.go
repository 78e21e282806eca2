package node

// Repairing a damaged database (murmur repair), and the time after it.
//
// Repair moves the damaged file aside (never deletes it), reads back what
// it can (store.Salvage: row by row where SQLite can still read, and from
// table pages the b-tree no longer leads to), and builds a new database
// from it through the normal ingest path: every entry is verified again,
// and the state decides its status as it would for entries from a peer.
// The device key and the other files stay as they are. What was lost
// comes back from members' nodes by the normal sync, once `murmur run`
// reaches one.
//
// The fork. What was lost may include this device's own latest entries.
// Signing a new entry now could then reuse a place in this device's chain
// that a member already holds an entry at: two entries at one place, which
// every node treats as this device's key being used twice. So a rebuilt
// database (by a repair or a restore, which is a repair from an older
// copy) carries a mark, repair.pending, and while it is there this device
// signs nothing: every write is refused, with why, and the node does not
// write on its own either (organisation keys, address hints, the secret's
// anchor). The mark goes once the running node has completed a sync with
// a member's node in which it pushed nothing: the member held every entry
// this node holds, and this node now holds every entry that member holds,
// its own included. The mark is kept in the database too (rebuiltMeta):
// repair.pending deleted by hand is written again from it. What that cannot see (documented in ARCHITECTURE.md): an own
// entry that reached only other members, none of whom this node has
// synced with yet, is still missing when writes resume.
//
// Reaching members. A database that lost the membership entries no longer
// knows who the members are, and the transport gate (node/p2p/gate.go) talks to
// members only: only the founder's device, named by the genesis entry, is
// still known. While the mark is there, the nodes named with --peer are
// therefore let through the gate as if they were members (unless the
// state knows them as revoked): the person repairing vouches for them.
// Nothing they send is trusted more for it: every entry is verified and
// judged by the state, from the genesis entry down. They get connections
// and reconciliation only: not the network secret, not bodies held back,
// not this node's relay, which stay for the devices the state knows.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// repairName is the mark of a rebuilt database (see above).
const repairName = "repair.pending"

// RepairMark says that the database was rebuilt and this device writes
// again once it has synced with a member's node.
type RepairMark struct {
	Version int       `json:"version"`
	When    time.Time `json:"when"`
	How     string    `json:"how"`                 // "repair" or "restore"
	Aside   string    `json:"aside,omitempty"`     // where the damaged database was moved
	OwnHead uint64    `json:"own_head"`            // this device's last entry in the rebuilt database
	From    string    `json:"from_file,omitempty"` // the backup restored from
}

func readRepairMark(dir string) (*RepairMark, error) {
	b, err := os.ReadFile(filepath.Join(dir, repairName))
	if err != nil {
		return nil, err
	}
	var m RepairMark
	if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 {
		// A damaged mark still means: do not write yet.
		return &RepairMark{Version: 1, How: "repair"}, nil
	}
	return &m, nil
}

func writeRepairMark(dir string, m RepairMark) error {
	m.Version = 1
	b, _ := json.MarshalIndent(m, "", "  ")
	return writeFileAtomic(filepath.Join(dir, repairName), b, 0o600)
}

// rebuiltMeta is the store's own record of the mark (see above): the mark
// in the database, sealed under the device key, while repair.pending is
// its copy, for other processes and for people. Deleting the file by hand
// does not lift the wait: it is written again from the database. An empty
// value says the wait ended.
const rebuiltMeta = "rebuilt"

// markRebuilt writes the mark of a rebuilt database: in the database, and
// as repair.pending.
func (n *Node) markRebuilt(ctx context.Context, m RepairMark) error {
	m.Version = 1
	b, _ := json.Marshal(m)
	if err := n.store.SetMeta(ctx, rebuiltMeta, b); err != nil {
		return err
	}
	return writeRepairMark(n.dir, m)
}

// storedMark reads the mark the database holds: nil if none, or if the
// wait ended.
func (n *Node) storedMark(ctx context.Context) *RepairMark {
	b, err := n.store.GetMeta(ctx, rebuiltMeta)
	if err != nil || len(b) == 0 {
		return nil
	}
	var m RepairMark
	if json.Unmarshal(b, &m) != nil || m.Version != 1 {
		return &RepairMark{Version: 1, How: "repair"}
	}
	return &m
}

// loadMark finds the mark at open: repair.pending, or, if that went, the
// database's record, written out again.
func (n *Node) loadMark(ctx context.Context) *RepairMark {
	m, err := readRepairMark(n.dir)
	if err == nil {
		return m
	}
	if m = n.storedMark(ctx); m != nil {
		writeRepairMark(n.dir, *m)
	}
	return m
}

// ErrRecovering matches (errors.Is) a write refused because the database
// was rebuilt and has not synced with a member since.
var ErrRecovering = errors.New("this device writes again once it has synced with a member's node")

// RecoveringError is the refusal of a write after a repair or restore.
type RecoveringError struct{ Mark RepairMark }

func (e *RecoveringError) Error() string {
	what := "rebuilt by `murmur repair`"
	if e.Mark.How == "restore" {
		what = "restored from a backup"
	}
	when := ""
	if !e.Mark.When.IsZero() {
		when = " on " + e.Mark.When.Local().Format("Mon 2 Jan 15:04")
	}
	return fmt.Sprintf("this node's database was %s%s and may lack entries this device wrote: it writes again once it has synced with a member's node (start `murmur run` with a member reachable), so that it never signs two entries at one place in its chain", what, when)
}

func (e *RecoveringError) Is(target error) bool { return target == ErrRecovering }

// Recovering reports whether the database was rebuilt and this device
// has not synced with a member since (see above).
func (n *Node) Recovering() *RepairMark {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.recovering
}

// refuseWhileRecovering is checked before every entry this device signs.
// The mark is read again from disk: the running node, in another process,
// may have removed it. The caller holds n.mu.
func (n *Node) refuseWhileRecovering() error {
	if n.recovering == nil {
		return nil
	}
	m := n.loadMark(context.Background())
	if m == nil {
		n.recovering = nil
		return nil
	}
	n.recovering = m
	return &RecoveringError{Mark: *n.recovering}
}

// endRecovery removes the mark: the node has completed a sync with a
// member's node. It reports whether there was a mark.
func (n *Node) endRecovery() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.recovering == nil {
		return false
	}
	if err := n.store.SetMeta(context.Background(), rebuiltMeta, []byte{}); err != nil {
		return false
	}
	if err := os.Remove(filepath.Join(n.dir, repairName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false
	}
	n.recovering = nil
	n.vouched = nil
	return true
}

// ErrNotRecovering is returned by ResumeWrites when no rebuilt database
// waits for a sync.
var ErrNotRecovering = errors.New("no rebuilt database waits for a sync here: this device writes already")

// ErrNotAlone is returned by ResumeWrites when the state knows another
// node that could hold entries this device wrote: the sync that ends the
// wait is the safe way.
var ErrNotAlone error = inputError{msg: "this network has other members' devices, which may hold entries this device wrote: run `murmur run` with a member's node reachable (name one with --peer) and writes resume once it has synced; --force resumes without it, at the risk of a forked key"}

// ResumeWrites removes the mark of a rebuilt database in dir without the
// sync that would prove it safe, for a device that has no member to sync
// with (the network's only node). Unless force, it refuses (ErrNotAlone)
// when the state knows any other organisation, or another unrevoked
// device of this one: they may hold entries this device wrote and lost
// here, and its next entries would fork with them.
func ResumeWrites(ctx context.Context, dir string, pass PassphraseSource, force bool) (*RepairMark, error) {
	if !Initialised(dir) {
		return nil, ErrNotInitialised
	}
	n, err := OpenWith(ctx, dir, pass)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	m := n.Recovering()
	if m == nil {
		return nil, ErrNotRecovering
	}
	if !force && !n.alone() {
		return nil, ErrNotAlone
	}
	if err := n.store.SetMeta(ctx, rebuiltMeta, []byte{}); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, repairName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return m, nil
}

// alone reports whether the state knows no other organisation and no
// other unrevoked device of this one.
func (n *Node) alone() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range n.state.Members() {
		if o.ID != n.org {
			return false
		}
		for _, dv := range o.Devices {
			if dv.Key != n.device && !dv.Revoked {
				return false
			}
		}
	}
	return true
}

// knownMemberPeer is knownMember for callers that do not hold the lock.
func (n *Node) knownMemberPeer(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.knownMember(p)
}

// vouch lets the peers named with --peer through the gate while the node
// recovers (see above).
func (n *Node) vouch(peers []peer.AddrInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.recovering == nil {
		return
	}
	n.vouched = map[peer.ID]bool{}
	for _, ai := range peers {
		n.vouched[ai.ID] = true
	}
}

// RepairReport says what a repair did.
type RepairReport struct {
	Aside       []string `json:"moved_aside"` // the damaged files, moved
	Salvaged    int      `json:"salvaged"`    // entries read back from the damaged file
	FromPages   int      `json:"from_pages"`  // of those, read from pages the database no longer led to
	Unreadable  int      `json:"unreadable"`  // places in the damaged file that could not be read
	Refused     int      `json:"refused"`     // read back, but did not verify
	Entries     int      `json:"entries"`     // entries the rebuilt database holds
	Contacts    int      `json:"contacts"`    // remembered addresses of members' nodes read back
	OwnHead     uint64   `json:"own_head"`    // this device's last entry in the rebuilt database
	NotDatabase bool     `json:"not_database"`
}

// ErrHealthy is returned by Repair when the database needs no repair.
var ErrHealthy = errors.New("the database is healthy: nothing to repair (see `murmur doctor`; --force rebuilds it anyway)")

// Repair rebuilds the database of dir from what still verifies in it (see
// above), asking pass for the passphrase if the device key has one. A
// node must not be running on dir. Unless force, a database that passes
// every check of the doctor is left alone (ErrHealthy). The damaged file
// is moved aside, never deleted; the rebuilt database is marked, and this
// device writes again once it has synced with a member's node.
func Repair(ctx context.Context, dir string, pass PassphraseSource, force bool) (_ *RepairReport, err error) {
	if !Initialised(dir) {
		return nil, ErrNotInitialised
	}
	if inMemory(dir) {
		return nil, errNoDatabaseFile
	}
	lock, err := acquireRunLock(filepath.Join(dir, runLockName))
	if err != nil {
		return nil, fmt.Errorf("%w: stop it before repairing its database", ErrAlreadyRunning)
	}
	defer lock.release()
	seed, err := readDeviceSeed(dir, pass)
	if err != nil {
		return nil, err
	}
	priv := crdt.KeyFromSeed(seed)
	var cfg config
	b, err := os.ReadFile(filepath.Join(dir, configName))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: a repair cannot rebuild it; restore this device from a backup", configName)
	}
	network, err := crdt.ParseID(cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: a repair cannot rebuild it; restore this device from a backup", configName)
	}
	device := crdt.PublicKeyOf(priv)
	if cfg.Device != device.String() {
		return nil, fmt.Errorf("the device key does not belong to this node's device")
	}
	if !force {
		var d Diagnosis
		d.Recovering, _ = readRepairMark(dir)
		if len(diagnoseDatabase(ctx, dir, priv, device, network, &d)) == 0 {
			return nil, ErrHealthy
		}
	}
	genesis, _ := keptGenesis(dir, priv, device, network)

	// Move the damaged files aside.
	rep := &RepairReport{}
	dbPath := filepath.Join(dir, dbName)
	aside := dbPath + ".damaged-" + time.Now().UTC().Format("20060102-150405")
	for i := 1; ; i++ {
		if _, err := os.Stat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.damaged-%s-%d", dbPath, time.Now().UTC().Format("20060102-150405"), i)
	}
	// A repair that fails (a full disk, most often) puts the files back
	// as they were: a new database left half built, without its mark,
	// would let this device sign at places of its chain it used already.
	var moved []string // suffixes moved aside
	building := false  // all moved: what is at dbPath now is the repair's
	defer func() {
		if err == nil {
			return
		}
		if building {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(dbPath + suffix)
			}
		}
		for _, suffix := range moved {
			if rerr := os.Rename(aside+suffix, dbPath+suffix); rerr != nil {
				err = fmt.Errorf("%w; and the damaged database could not be put back (%v): it is at %s", err, rerr, aside)
				return
			}
		}
		if len(moved) > 0 {
			err = fmt.Errorf("%w (the database is left as it was)", err)
		}
	}()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(dbPath+suffix, aside+suffix); err == nil {
			rep.Aside = append(rep.Aside, aside+suffix)
			moved = append(moved, suffix)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("moving the damaged database aside: %w", err)
		}
	}
	building = true

	// Read back what can be read, from a copy (SQLite may write to the
	// file it reads, recovering its WAL).
	var raws [][]byte
	var contacts []store.Contact
	if len(rep.Aside) > 0 && rep.Aside[0] == aside {
		tmp, err := os.MkdirTemp(dir, "salvage-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		copyPath := filepath.Join(tmp, dbName)
		if err := copyFile(aside, copyPath); err != nil {
			return nil, fmt.Errorf("copying the damaged database: %w", noRoom(err))
		}
		if err := copyFile(aside+"-wal", copyPath+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("copying the damaged database: %w", noRoom(err))
		}
		sk, err := storeKey(priv, device)
		if err != nil {
			return nil, err
		}
		sr, err := store.Salvage(ctx, copyPath, sk, func(r store.Record) error {
			raws = append(raws, r.Raw)
			return nil
		}, func(c store.Contact) error {
			contacts = append(contacts, c)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading the damaged database: %w", err)
		}
		rep.Salvaged, rep.FromPages, rep.Unreadable, rep.NotDatabase = sr.Entries, sr.FromPages, sr.Unreadable, sr.NotDatabase
	}
	if genesis == nil {
		for _, raw := range raws {
			if e, err := crdt.Verify(raw); err == nil && e.Kind == crdt.KindGenesis && e.ID() == network {
				genesis = e
				break
			}
		}
	}
	if genesis == nil {
		return nil, fmt.Errorf("the network's founding entry could not be read back, and %s keeps no copy of it: restore this device from a backup (`murmur restore FILE --dir NEWDIR`), or join the network again", dir)
	}

	n, err := rebuild(ctx, dir, priv, genesis)
	if err != nil {
		return nil, fmt.Errorf("building the new database: %w", err)
	}
	defer n.Close()
	ir, err := n.ingestAll(ctx, raws)
	if err != nil {
		return nil, fmt.Errorf("building the new database: %w", err)
	}
	rep.Refused = ir
	for _, c := range contacts {
		if err := n.store.RecordContact(ctx, c.Device, c.Last, c.Via, c.Addr); err == nil {
			rep.Contacts++
		}
	}
	rep.Entries, rep.OwnHead = n.storedSummary()
	n.keepGenesis(priv)
	mark := RepairMark{When: time.Now(), How: "repair", Aside: aside, OwnHead: rep.OwnHead}
	if err := n.markRebuilt(ctx, mark); err != nil {
		return nil, fmt.Errorf("marking the rebuilt database: %w", err)
	}
	return rep, nil
}

// rebuild creates a new database in dir holding the genesis entry, and
// opens the node on it, unlocked. The mark (repair.pending) is the
// caller's to write.
func rebuild(ctx context.Context, dir string, priv []byte, genesis *crdt.Entry) (*Node, error) {
	sk, err := storeKey(priv, crdt.PublicKeyOf(priv))
	if err != nil {
		return nil, err
	}
	if err := createStore(ctx, dir, sk, genesis); err != nil {
		return nil, err
	}
	n, err := open(ctx, dir, priv)
	if err != nil {
		return nil, err
	}
	n.key = priv
	return n, nil
}

// ingestAll takes entries read back from a damaged database or a backup
// through the normal ingest path, in batches, and returns how many were
// refused (did not verify, or the state refused them).
func (n *Node) ingestAll(ctx context.Context, raws [][]byte) (int, error) {
	refused := 0
	const batch = 4096
	for lo := 0; lo < len(raws); lo += batch {
		rep, err := n.Ingest(ctx, raws[lo:min(lo+batch, len(raws))])
		if err != nil {
			return refused, err
		}
		refused += len(rep.Refused)
	}
	return refused, nil
}

// storedSummary counts the entries the state holds, and finds this
// device's last accepted one.
func (n *Node) storedSummary() (entries int, ownHead uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.state.Head(n.device); h != nil {
		ownHead = h.Seq
	}
	return n.state.Counts().Accepted, ownHead
}

// noRoom is store.ErrDiskFull if err says the disk had no room, else err.
func noRoom(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return store.ErrDiskFull
	}
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
