package node

// A damaged data directory (murmur doctor). Every open checks the
// database before it reads it (openStore): the file's shape without
// SQLite (store.CheckFile: missing, empty, cut short, overwritten), then
// SQLite's quick_check, which reads every page. On a database of 100,000
// entries (70 MB) quick_check takes 77 ms here (store's
// BenchmarkQuickCheck100k; integrity_check 380 ms). An open no longer
// reads the log, so above 32 MB (quickCheckMax) a command checks the
// file's shape only and `murmur run` runs quick_check as it starts; the
// doctor runs integrity_check. A database that fails is refused with one line that says to run
// `murmur doctor`. Diagnose is the doctor: everything in the directory,
// in plain words, with what to do about each problem.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// ErrDamaged matches (errors.Is) the refusal to open a damaged database.
var ErrDamaged = errors.New("the database is damaged")

// DamagedError is the refusal to open a damaged database.
type DamagedError struct {
	Dir     string
	Problem string // in plain words: "the database file is empty"
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the database in %s is damaged (%s): run `murmur doctor` to see what is wrong and what to do", e.Dir, e.Problem)
}

func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// damaged turns a store error that says the database is damaged into a
// DamagedError, and leaves any other error as it is.
func damaged(dir string, err error) error {
	if p, ok := store.DamageOf(err); ok {
		return &DamagedError{Dir: dir, Problem: p}
	}
	return err
}

// Files a repair and the doctor know of.
const (
	// genesisName keeps a sealed copy of the network's genesis entry,
	// written at provisioning and at every open that finds it missing: a
	// repair of a database that lost it still knows which network it
	// belongs to, and whose entries to accept.
	genesisName = "genesis.sealed"
)

// keepGenesis writes genesis.sealed if it is missing. Best effort: a
// failure here only means a later repair may have to find the genesis
// entry in the damaged database.
func (n *Node) keepGenesis(priv []byte) {
	path := filepath.Join(n.dir, genesisName)
	if _, err := os.Stat(path); err == nil {
		return
	}
	e, _, ok := n.state.Entry(n.network)
	if !ok {
		return
	}
	_ = sealAtRest(path, priv, n.device, n.network, "genesis", e.Raw())
}

// keptGenesis reads genesis.sealed: the network's genesis entry, verified.
func keptGenesis(dir string, priv []byte, device crdt.DeviceKey, network crdt.ID) (*crdt.Entry, error) {
	raw, err := openAtRest(filepath.Join(dir, genesisName), priv, device, network, "genesis")
	if err != nil {
		return nil, err
	}
	e, err := crdt.Verify(raw)
	if err != nil || e.Kind != crdt.KindGenesis || e.ID() != network {
		return nil, fmt.Errorf("%s does not hold this network's founding entry", genesisName)
	}
	return e, nil
}

// Finding is one problem the doctor found, and what to do about it.
type Finding struct {
	Part    string `json:"part"`    // what is damaged: "database", "device key", ...
	Problem string `json:"problem"` // what is wrong, in plain words
	Do      string `json:"do"`      // what to do about it
}

// Diagnosis is what the doctor found in a data directory.
type Diagnosis struct {
	Dir      string    `json:"dir"`
	Healthy  bool      `json:"ok"` // (CLI.md)
	Findings []Finding `json:"problems"`
	// Checked lists what was checked and found sound, in plain words.
	Checked []string `json:"checked"`
	// Entries: how many stored entries were read and verified.
	Entries int `json:"entries"`
	// Recovering: the database was rebuilt (repair or restore) and this
	// device writes again once it has synced with a member (repair.go).
	Recovering *RepairMark `json:"recovering,omitempty"`
}

const (
	doRepair  = "run `murmur repair`: it rebuilds the database from what still verifies, keeps this device's keys, and moves the damaged file aside; then `murmur run` fetches the rest from the members' nodes it remembers (if it reaches none, name one: `murmur run --peer ADDRESS`, as a member's `murmur run` prints it)"
	doRestore = "restore this device from a backup into a new directory (`murmur restore FILE --dir NEWDIR`), or wipe this directory (`murmur wipe`) and join the network again as a new device"
)

// Diagnose checks the data directory dir: its configuration, the device
// key (asking pass for the passphrase if it has one), the files sealed
// under it, and the database: SQLite's integrity_check, every stored entry
// decoded and its signature verified, and each device's chain of entries
// without gaps. It changes nothing. It returns an error only when it
// cannot look at all (no node here, a wrong or missing passphrase).
func Diagnose(ctx context.Context, dir string, pass PassphraseSource) (*Diagnosis, error) {
	if !Initialised(dir) {
		return nil, ErrNotInitialised
	}
	if inMemory(dir) {
		return nil, errNoDatabaseFile
	}
	d := &Diagnosis{Dir: dir, Findings: []Finding{}, Checked: []string{}}
	defer func() { d.Healthy = len(d.Findings) == 0 }()
	find := func(part, problem, do string) { d.Findings = append(d.Findings, Finding{part, problem, do}) }

	var cfg config
	b, err := os.ReadFile(filepath.Join(dir, configName))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	network, err1 := crdt.ParseID(cfg.Network)
	device, err2 := crdt.ParseDeviceKey(cfg.Device)
	if err != nil || cfg.Version != 1 || err1 != nil || err2 != nil {
		find("settings", configName+" is damaged or from a newer release", doRestore)
		return d, nil
	}
	d.Checked = append(d.Checked, "the settings ("+configName+") read")

	seed, err := readDeviceSeed(dir, pass)
	if errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrNeedPassphrase) {
		return nil, err
	}
	if err != nil {
		find("device key", "the device key file ("+keyName+") is missing or damaged: this device's identity cannot be read from this directory", doRestore)
		return d, nil
	}
	priv := crdt.KeyFromSeed(seed)
	if crdt.PublicKeyOf(priv) != device {
		find("device key", "the device key file belongs to another device than this directory's settings name", doRestore)
		return d, nil
	}
	d.Checked = append(d.Checked, "the device key opens and is this device's")

	// The small files sealed under the device key.
	for _, f := range []struct {
		name, purpose string
		required      bool
		do            string
	}{
		{pskName, "network-key", cfg.Private, "restore this device from a backup: without the network key no member's node can be reached (" + doRestore + ")"},
		{secretName, "network-secret", false, "move " + secretName + " out of the directory: the running node asks a member's node for the network secret again"},
		{doorsName, "door-secrets", false, "move " + doorsName + " out of the directory: invites this device issued that are still open then reach nothing; issue new ones"},
		{genesisName, "genesis", false, "move " + genesisName + " out of the directory: it is written again from the database at the next open"},
	} {
		_, err := openAtRest(filepath.Join(dir, f.name), priv, device, network, f.purpose)
		switch {
		case errors.Is(err, os.ErrNotExist) && f.required:
			find(f.name, f.name+" is missing", f.do)
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			find(f.name, f.name+" does not open with this device's key: it is damaged", f.do)
		default:
			d.Checked = append(d.Checked, f.name+" opens")
		}
	}
	if _, err := keptGenesis(dir, priv, device, network); err != nil && !errors.Is(err, os.ErrNotExist) && len(d.Findings) == 0 {
		find(genesisName, err.Error(), "move "+genesisName+" out of the directory: it is written again from the database at the next open")
	}

	if mark, err := readRepairMark(dir); err == nil {
		d.Recovering = mark
	}
	d.Findings = append(d.Findings, diagnoseDatabase(ctx, dir, priv, device, network, d)...)
	return d, nil
}

// diagnoseDatabase checks the database and returns what is wrong with it.
func diagnoseDatabase(ctx context.Context, dir string, priv []byte, device crdt.DeviceKey, network crdt.ID, d *Diagnosis) []Finding {
	var out []Finding
	find := func(problem string) { out = append(out, Finding{"database", problem, doRepair}) }
	dbPath := filepath.Join(dir, dbName)
	if err := store.CheckFile(dbPath); err != nil {
		find(err.Error())
		return out
	}
	sk, err := storeKey(priv, device)
	if err != nil {
		find(err.Error())
		return out
	}
	st, err := store.OpenSQLite(dbPath, sk)
	if errors.Is(err, store.ErrWrongKey) {
		return append(out, Finding{"database", "the database is sealed under another device's key: it is not this device's", doRestore})
	}
	if err != nil {
		if p, ok := store.DamageOf(err); ok {
			find(p)
		} else {
			find("the database does not open: " + err.Error())
		}
		return out
	}
	defer st.Close()
	if b, err := st.GetMeta(ctx, rebuiltMeta); err == nil && len(b) > 0 && d.Recovering == nil {
		// repair.pending went, but the database says the wait goes on.
		var m RepairMark
		if json.Unmarshal(b, &m) != nil {
			m = RepairMark{Version: 1, How: "repair"}
		}
		d.Recovering = &m
	}
	if err := st.IntegrityCheck(ctx); err != nil {
		if p, ok := store.DamageOf(err); ok {
			find(p)
		} else {
			find("the integrity check could not run: " + err.Error())
		}
		// Go on: what can be read still tells how much is lost.
	} else {
		d.Checked = append(d.Checked, "the database's pages and indexes are sound (integrity check)")
	}
	if meta, err := st.GetMeta(ctx, "network"); err != nil || string(meta) != string(network[:]) {
		find("the database does not say it belongs to this node's network")
	}

	// Every entry: its bytes decode, its signature verifies, and the row
	// says what the entry says.
	type stored struct {
		id     crdt.ID
		seq    uint64
		prev   crdt.ID
		status crdt.Status
	}
	var (
		recs   []store.Record
		bad    int
		chains = map[crdt.DeviceKey][]stored{}
	)
	_, scanErr := st.Scan(ctx, 0, func(_ int64, r store.Record) error {
		recs = append(recs, r)
		return nil
	})
	entries := make([]*crdt.Entry, len(recs))
	errs := make([]error, len(recs))
	verifyParallel(recs, entries, errs)
	hasGenesis := false
	for i, r := range recs {
		e := entries[i]
		if errs[i] != nil || e.ID() != r.ID || e.Author != r.Author || e.Seq != r.Seq {
			bad++
			continue
		}
		hasGenesis = hasGenesis || e.ID() == network
		chains[e.Author] = append(chains[e.Author], stored{e.ID(), e.Seq, e.Prev, r.Status})
	}
	d.Entries = len(recs) - bad
	if scanErr != nil {
		if p, ok := store.DamageOf(scanErr); ok {
			find(fmt.Sprintf("reading the entries stopped after %d: %s", len(recs), p))
		} else {
			find(fmt.Sprintf("reading the entries stopped after %d: %v", len(recs), scanErr))
		}
	}
	if bad > 0 {
		find(fmt.Sprintf("%d of the %d stored entries no longer verify (their bytes changed)", bad, len(recs)))
	}
	if !hasGenesis && scanErr == nil {
		find("the network's founding entry is missing from the database")
	}
	if scanErr == nil && bad == 0 {
		d.Checked = append(d.Checked, nEntries(len(recs), "the one stored entry decodes and its signature verifies", "all %d stored entries decode and their signatures verify"))
	}

	// Chains: an accepted entry follows an accepted one of its author,
	// with no gap; this device's own chain has no gap at all.
	broken := 0
	for author, ch := range chains {
		bySeq := map[uint64][]stored{}
		for _, s := range ch {
			bySeq[s.seq] = append(bySeq[s.seq], s)
		}
		for _, s := range ch {
			if s.status != crdt.StatusAccepted || s.seq <= 1 {
				continue
			}
			ok := false
			for _, p := range bySeq[s.seq-1] {
				ok = ok || (p.id == s.prev && p.status == crdt.StatusAccepted)
			}
			if !ok {
				broken++
				break
			}
		}
		if author == device {
			seqs := make([]uint64, 0, len(bySeq))
			for q := range bySeq {
				seqs = append(seqs, q)
			}
			sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
			for i, q := range seqs {
				if q != uint64(i+1) {
					// After a repair, the sync that ends the wait
					// brings them back (repair.go): no finding.
					if d.Recovering == nil {
						find(fmt.Sprintf("this device's own chain of entries has a gap before its entry %d: entries it wrote are missing", q))
					}
					break
				}
				if len(bySeq[q]) > 1 {
					out = append(out, Finding{"device key", fmt.Sprintf("this device's key is in use in two places: two different entries were signed with it at place %d of its chain (a backup restored on two machines, or a copied data directory?)", q), forkAdvice})
					break
				}
			}
		}
	}
	if broken > 0 {
		find(nEntries(broken, "the chain of one device has accepted entries whose predecessor is missing", "the chains of %d devices have accepted entries whose predecessor is missing"))
	} else if scanErr == nil {
		ok := nEntries(len(chains), "the device's chain of accepted entries is whole", "the chains of accepted entries of all %d devices are whole")
		waiting := 0
		for _, ch := range chains {
			for _, s := range ch {
				if s.status == crdt.StatusWaiting {
					waiting++
				}
			}
		}
		if waiting > 0 { // (not a problem: peers send what they lack)
			ok += "; " + nEntries(waiting, "1 entry waits for one this node has not received yet", "%d entries wait for ones this node has not received yet")
		}
		d.Checked = append(d.Checked, ok)
	}
	return out
}

// nEntries is one when n is 1, else many with n in it.
func nEntries(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return fmt.Sprintf(many, n)
}

// verifyParallel decodes and verifies every record's bytes, on all cores.
func verifyParallel(recs []store.Record, out []*crdt.Entry, errs []error) {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(recs)/64))
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i], errs[i] = crdt.Verify(recs[i].Raw)
			}
		}()
	}
	wg.Wait()
}
