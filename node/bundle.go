package node

import (
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/seal"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// Bundles: the network carried on a USB stick, an SD card, an e-mail
// attachment or a messenger's file (sync/bundle.go has the file format).
//
// An export writes accepted entries, as a reconciliation pushes them; an
// import hands them to Ingest, the one validation path every entry from
// elsewhere takes, in batches, each stored durably: an import cut off keeps
// what it stored, and the same import again takes the rest. A summary
// (WriteSummary) says what this node holds, so that another node exports
// exactly what it lacks; every bundle carries its maker's summary too, so
// a bundle received is also a summary to answer. What a member
// organisation's node is known to hold is remembered (holdings): from the
// summaries and bundles of its devices, and from each reconciliation with
// one of its nodes that this node started and that ended well.

// Errors of bundles, in words for the person holding the file.
var (
	ErrNoBundleKey  = errors.New("this node has not received the network's secret yet, and bundles are sealed under it: it comes from any member's node once this organisation is admitted (run `murmur run` while a member is reachable)")
	ErrNothingKnown = errors.New("nothing is known yet of what that organisation's node holds: export everything (leave out --org), or ask them for a summary (`murmur bundle summary FILE`) and use --for")
)

// BundleOptions say what an export writes.
type BundleOptions struct {
	For   string    // a summary or bundle file the recipient made: what it lacks
	Since time.Time // entries written at or after this time
	Org   string    // what that organisation's node was last known to lack
	To    string    // only that organisation can read the entries
	Split int64     // bytes per part (numbered files); 0 for one file
	// Progress, if set, is told how far the work has gone, now and then.
	Progress func(Progress)
}

// Progress is how far an export or import has gone.
type Progress struct {
	Done, Total int   // entries
	Bytes       int64 // bytes written or read
}

// SummaryReport says what WriteSummary wrote.
type SummaryReport struct {
	Devices int    `json:"devices"`
	Bytes   int64  `json:"-"`
	File    string `json:"-"`
}

// ExportReport says what ExportBundle wrote.
type ExportReport struct {
	Entries int      `json:"entries"`
	Bytes   int64    `json:"bytes"`
	Files   []string `json:"files"`
	Basis   string   `json:"-"` // what was left out, in words ("what Beta Collective's summary of 3 Dec 14:02 holds")
	To      string   `json:"-"` // the organisation that alone can read it
}

// ImportReport says what ImportBundles took in.
type ImportReport struct {
	New     int `json:"new"`     // entries stored
	Held    int `json:"held"`    // entries this node already held
	Refused int `json:"refused"` // entries refused, with the same checks as from the network
	Waiting int `json:"-"`       // of the new ones: waiting for entries not here yet
	// StillWaiting is every entry this node holds that waits for one it
	// lacks, after the import: those of earlier imports too (a part of a
	// split export that never came).
	StillWaiting int            `json:"waiting"`
	Imported     []string       `json:"-"` // the files whose entries were taken in
	Dropped      int            `json:"-"` // of those: no longer kept (the waiting room is bounded)
	Why          map[string]int `json:"-"` // refused entries by reason, in words
	Files        int            `json:"-"`
	From         []string       `json:"-"` // the organisations that made the bundles
	Missing      []string       `json:"-"` // parts of a split export not given, in words
	// Skipped are the summary files given (a summary is answered with
	// export --for, not imported); Problems the files that could not be
	// read, whose entries were not imported (the others were).
	Skipped  []string      `json:"skipped,omitempty"`
	Problems []FileProblem `json:"problems,omitempty"`
}

// FileProblem is a file an import could not read, and why.
type FileProblem struct {
	File    string `json:"file"`
	Problem string `json:"problem"`
}

// errSummary marks a summary file given to an import.
var errSummary = errors.New("a summary, not a bundle")

func plainProblem(err error) string { return err.Error() }

// bundleKey is the key of this network's bundles. The caller holds n.mu.
func (n *Node) bundleKey() (msync.BundleKey, error) {
	if n.key == nil {
		return msync.BundleKey{}, ErrLocked
	}
	secret, err := n.networkSecret()
	if errors.Is(err, ErrNoSecret) {
		return msync.BundleKey{}, ErrNoBundleKey
	}
	if err != nil {
		return msync.BundleKey{}, err
	}
	return msync.BundleKey{Secret: secret, Network: n.network}, nil
}

// holdings lists every entry the state holds, the waiting pool included.
// The caller holds n.mu.
func (n *Node) holdings(ctx context.Context) ([]msync.Holding, error) {
	if err := n.withPool(ctx); err != nil {
		return nil, err
	}
	var out []msync.Holding
	n.state.Each(func(e *crdt.Entry, _ crdt.Status) {
		out = append(out, msync.Holding{Author: e.Author, Seq: e.Seq, ID: e.ID(), Prev: e.Prev, Clock: e.Clock})
	})
	return out, nil
}

// WriteSummary writes a summary file: what this node holds, for another
// member's node to export exactly what it lacks (ExportBundle's For).
func (n *Node) WriteSummary(ctx context.Context, path string) (SummaryReport, error) {
	n.mu.Lock()
	key, err := n.bundleKey()
	if err != nil {
		n.mu.Unlock()
		return SummaryReport{}, err
	}
	held, err := n.holdings(ctx)
	if err != nil {
		n.mu.Unlock()
		return SummaryReport{}, err
	}
	sum := msync.Summarise(held)
	h := msync.Header{Kind: msync.KindSummary, Network: n.network, Device: n.device, Made: n.now(), Set: [16]byte(random(16)), Part: 1, Summary: sum}
	h.Sig = crdt.SignWith(n.key, h.SignedPart())
	n.mu.Unlock()
	var size int64
	err = writeAtomic(path, func(w io.Writer) error {
		bw, err := msync.NewBundleWriter(w, key, h, nil)
		if err != nil {
			return err
		}
		err = bw.Close(true)
		size = bw.Size()
		return err
	})
	if err != nil {
		return SummaryReport{}, err
	}
	return SummaryReport{Devices: sum.Devices(), Bytes: fileLen(path, size), File: path}, nil
}

func fileLen(path string, guess int64) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return guess
}

// ErrExists is returned for a bundle or summary file that would replace
// one that exists.
var ErrExists = errors.New("exists already")

// writeAtomic writes a new file through FILE.incomplete beside it, so that
// a failed or interrupted write leaves no half file under the name, and a
// killed one leaves a file that says what it is. It never replaces
// anything: a file of that name (a bundle not yet carried, the node's own
// database, a device) is left as it is, and the write refused.
func writeAtomic(path string, fn func(w io.Writer) error) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.IsDir() {
			return inputError{msg: fmt.Sprintf("%s is a folder: give the name of a file to write in it", path), err: ErrExists}
		}
		return inputError{msg: fmt.Sprintf("%s exists already: choose another name, or move that file away first (nothing was written)", path), err: ErrExists}
	}
	tmpName := path + ".incomplete"
	tmp, err := os.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("cannot write %s: there is no folder %s", path, filepath.Dir(path))
		case errors.Is(err, os.ErrPermission):
			return fmt.Errorf("cannot write %s: this user may not write in %s", path, filepath.Dir(path))
		}
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := fn(tmp); err != nil {
		return writeProblem(path, err)
	}
	if err := tmp.Sync(); err != nil {
		return writeProblem(path, err)
	}
	if err := tmp.Close(); err != nil {
		return writeProblem(path, err)
	}
	done = true
	if _, err := os.Lstat(path); err == nil { // appeared meanwhile
		os.Remove(tmpName)
		return inputError{msg: fmt.Sprintf("%s exists already: choose another name, or move that file away first (nothing was written)", path), err: ErrExists}
	}
	if err := os.Rename(tmpName, path); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// writeProblem says why writing path failed, in words.
func writeProblem(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("cannot write %s: the disk is full (nothing was written)", path)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("cannot write %s: %w", path, err)
}

// readHeader opens a bundle or summary file and reads its header. The
// caller holds n.mu.
func (n *Node) readHeader(path string, key msync.BundleKey) (msync.Header, error) {
	f, err := openToRead(path)
	if err != nil {
		return msync.Header{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return msync.Header{}, inputError{msg: fmt.Sprintf("%s is a folder: give the summary or bundle file in it", path), err: ErrRefused}
	}
	br, err := msync.OpenBundle(f, key)
	if err != nil {
		return msync.Header{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return br.Header(), nil
}

// ExportBundle writes a bundle of the accepted entries o selects (all of
// them by default), in reconciliation order.
func (n *Node) ExportBundle(ctx context.Context, path string, o BundleOptions) (ExportReport, error) {
	if o.Split != 0 && o.Split < msync.MinBundleSize {
		return ExportReport{}, inputError{msg: fmt.Sprintf("--split: parts must hold at least %d KB", msync.MinBundleSize/1000), err: ErrRefused}
	}
	n.mu.Lock()
	key, err := n.bundleKey()
	var raws [][]byte
	var h msync.Header
	var toKey []byte
	var rep ExportReport
	if err == nil {
		raws, h, toKey, rep, err = n.exportPlan(ctx, o, key)
	}
	n.mu.Unlock()
	if err != nil {
		return ExportReport{}, err
	}
	name := func(part int) string {
		if o.Split == 0 {
			return path
		}
		return fmt.Sprintf("%s.%03d", path, part)
	}
	next := 0
	progress := func() {
		if o.Progress != nil {
			o.Progress(Progress{Done: next, Total: len(raws), Bytes: rep.Bytes})
		}
	}
	est := newCompressedSize()
	for part := 1; part == 1 || next < len(raws); part++ {
		h.Part = part
		n.mu.Lock()
		h.Sig = crdt.SignWith(n.key, h.SignedPart())
		n.mu.Unlock()
		var size int64
		err := writeAtomic(name(part), func(w io.Writer) error {
			bw, err := msync.NewBundleWriter(w, key, h, toKey)
			if err != nil {
				return err
			}
			var unflushed int64
			for ; next < len(raws); next++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				raw := raws[next]
				cost := int64(len(raw)) + 4 // what it may add, before compression
				if o.Split > 0 && bw.Entries() > 0 {
					if size := bw.Size() + unflushed + cost; size+msync.CloseOverhead(size) > o.Split {
						if err := bw.Flush(); err != nil {
							return err
						}
						unflushed = 0
						// Near the limit: what it adds, compressed on its own
						// (in the stream it compresses at least as well).
						cost = est.size(raw)
						if size := bw.Size() + cost; size+msync.CloseOverhead(size) > o.Split {
							break // this part is full
						}
					}
				}
				if err := bw.Add(raw); err != nil {
					return err
				}
				unflushed += cost
				if next%256 == 0 {
					progress()
				}
			}
			err = bw.Close(next == len(raws))
			size = bw.Size()
			return err
		})
		if err != nil {
			for _, f := range rep.Files { // no partial export left behind
				os.Remove(f)
			}
			if errors.Is(err, context.Canceled) {
				return ExportReport{}, fmt.Errorf("export interrupted: nothing was written")
			}
			return ExportReport{}, err
		}
		rep.Files = append(rep.Files, name(part))
		rep.Bytes += fileLen(name(part), size)
	}
	rep.Entries = len(raws)
	progress()
	return rep, nil
}

// exportPlan chooses the entries to export and makes the header. The
// caller holds n.mu.
func (n *Node) exportPlan(ctx context.Context, o BundleOptions, key msync.BundleKey) (raws [][]byte, h msync.Header, toKey []byte, rep ExportReport, err error) {
	all, err := n.holdings(ctx)
	if err != nil {
		return nil, msync.Header{}, nil, ExportReport{}, err
	}
	var accepted []msync.Holding
	for _, x := range all {
		if st, _ := n.state.Has(x.ID); st == crdt.StatusAccepted {
			accepted = append(accepted, x)
		}
	}
	var sel []msync.Holding
	switch {
	case o.For != "":
		fh, err := n.readHeader(o.For, key)
		if err != nil {
			return nil, h, nil, rep, err
		}
		org, known := n.state.DeviceOrg(fh.Device)
		switch {
		case fh.Device == n.device || !crdt.VerifyWith(fh.Device, fh.SignedPart(), fh.Sig):
		case !known:
			// Admitted since this node last heard, or not at all: nothing
			// can be sealed for a device this node does not know.
			return nil, h, nil, rep, fmt.Errorf("%s was made by a device this node does not know as a member's (an organisation admitted since this node last heard?): an answer could not be sealed for it. Ask that node for a bundle instead (`murmur bundle export FILE` there): it carries its admission; import it here, then answer that bundle with --for", filepath.Base(o.For))
		default:
			if _, standing := n.state.Standing(fh.Device); !standing {
				return nil, h, nil, rep, fmt.Errorf("%s was made by a device of %s that has been revoked: it is not answered (whoever holds that device now is not the organisation)", filepath.Base(o.For), nameOr(n.orgNames(), org))
			}
		}
		sel = fh.Summary.Lacks(accepted)
		if org, ok := n.madeBy(fh); ok {
			rep.Basis = fmt.Sprintf("what %s's node held on %s", nameOr(n.orgNames(), org), fh.Made.Local().Format("Mon 2 Jan 15:04"))
			n.rememberSummary(ctx, org, fh.Summary, fh.Made)
		} else {
			rep.Basis = "what the summary says its node held"
		}
	case o.Org != "":
		org, err := n.resolveMember(o.Org)
		if err != nil {
			return nil, h, nil, rep, err
		}
		if org.ID == n.org {
			return nil, h, nil, rep, inputError{msg: "--org names an organisation to send entries to: this node's own organisation holds what its nodes wrote", err: ErrRefused}
		}
		k, ok := n.knownHoldings(ctx)[org.ID]
		if !ok {
			return nil, h, nil, rep, inputError{msg: strings.Replace(ErrNothingKnown.Error(), "that organisation", org.Name, 1), err: ErrNothingKnown}
		}
		sel = accepted
		if k.Cursor > 0 {
			// What was stored since, and, of each chain that grew since,
			// everything from where it grew: an entry stored before but
			// waiting then for its predecessor was not sent, and counts now.
			after := map[crdt.ID]bool{}
			grew := map[crdt.DeviceKey]uint64{}
			if _, err := n.store.Scan(ctx, k.Cursor, func(_ int64, r store.Record) error {
				after[r.ID] = true
				if s, ok := grew[r.Author]; !ok || r.Seq < s {
					grew[r.Author] = r.Seq
				}
				return nil
			}); err != nil {
				return nil, h, nil, rep, err
			}
			sel = slices.DeleteFunc(slices.Clone(accepted), func(x msync.Holding) bool {
				from, ok := grew[x.Author]
				return !after[x.ID] && !(ok && x.Seq >= from)
			})
		}
		if len(k.Summary) > 0 {
			if s, err := msync.DecodeSummary(k.Summary); err == nil {
				sel = s.Lacks(sel)
			}
		}
		rep.Basis = fmt.Sprintf("what %s's node was known to hold on %s", org.Name, time.UnixMilli(max(k.Synced, k.Seen)).Local().Format("Mon 2 Jan 15:04"))
	case !o.Since.IsZero():
		since := uint64(max(0, o.Since.UnixMilli())) // (before 1970: everything)
		for _, x := range accepted {
			if x.Clock.Millis() >= since {
				sel = append(sel, x)
			}
		}
		rep.Basis = "entries written since " + o.Since.Local().Format("Mon 2 Jan 2006 15:04")
	default:
		sel = accepted
	}
	slices.SortFunc(sel, func(a, b msync.Holding) int {
		return cmp.Or(cmp.Compare(a.Clock, b.Clock), bytes.Compare(a.ID[:], b.ID[:]))
	})
	raws = make([][]byte, 0, len(sel))
	for _, x := range sel {
		if e, _, ok := n.state.Entry(x.ID); ok {
			raws = append(raws, e.Raw())
		}
	}
	h = msync.Header{Kind: msync.KindBundle, Network: n.network, Device: n.device, Made: n.now(), Set: [16]byte(random(16)), Summary: msync.Summarise(all)}
	var only *crdt.OrgID
	if o.To != "" {
		org, err := n.resolveMember(o.To)
		if err != nil {
			return nil, h, nil, rep, err
		}
		only, rep.To = &org.ID, org.Name
	}
	toKey = random(32)
	if h.To, err = n.wrapForReaders(toKey, h.Set, only); err != nil {
		return nil, h, nil, rep, err
	}
	return raws, h, toKey, rep, nil
}

// Who may read a bundle. Its entries are sealed under a random content key,
// wrapped for each admitted organisation (or, with --to, one): for its
// current key (so that a device added after the bundle was made reads it),
// and for each of its devices with standing, through the X25519 key each
// device key converts to (so that a device that has not received its
// organisation's newest key reads it: a new member that has published
// none, or a device cut off when another was revoked and a new key
// written). A revoked device holds the network secret but none of these
// keys, so it cannot read a bundle made after its revocation.
//
// A wrap is kind (1 byte: 1 an organisation's key, 2 a device's) | the
// organisation ID or device key (32) | the recipient's X25519 key (32) |
// ephemeral key (32) | the sealed content key (48), bound to the network,
// the recipient and the export's set ID.
const (
	wrapOrg    byte = 1
	wrapDevice byte = 2
	wrapSize        = 1 + 32 + 32 + 32 + 48
	toInfo          = "murmur-bundle-to-v1"
)

func toAD(network crdt.ID, kind byte, id, pub [32]byte, set [16]byte) []byte {
	return slices.Concat([]byte(toInfo), network[:], []byte{kind}, id[:], pub[:], set[:])
}

// wrapForReaders wraps ck for the organisations that may read a bundle:
// every admitted one, or only the one given. The caller holds n.mu.
func (n *Node) wrapForReaders(ck []byte, set [16]byte, only *crdt.OrgID) ([]byte, error) {
	var out []byte
	wrap := func(kind byte, id, pub [32]byte) error {
		eph, sealed, err := seal.To(pub, ck, toAD(n.network, kind, id, pub, set), toInfo)
		if err != nil {
			return err
		}
		out = append(append(append(append(append(out, kind), id[:]...), pub[:]...), eph[:]...), sealed...)
		return nil
	}
	for _, o := range n.state.Members() {
		if !o.Admitted || only != nil && o.ID != *only {
			continue
		}
		if v, ok := n.state.CurrentOrgKey(o.ID); ok {
			if err := wrap(wrapOrg, o.ID, v.Public); err != nil {
				return nil, err
			}
		}
		// Each device too: one that has not received its organisation's
		// newest key (written while it was cut off, after another device
		// was revoked) reads with its own.
		for _, d := range o.Devices {
			if d.Revoked {
				continue
			}
			if _, ok := n.state.Standing(d.Key); !ok {
				continue
			}
			pub, err := seal.DevicePublicX25519(d.Key)
			if err != nil {
				continue // not a curve point: no one can read for it
			}
			if err := wrap(wrapDevice, d.Key, pub); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		name := "no organisation"
		if only != nil {
			name = nameOr(n.orgNames(), *only)
		}
		return nil, inputError{msg: fmt.Sprintf("%s has no device that could read it (all revoked?): nothing to write", name), err: ErrRefused}
	}
	return out, nil
}

// unsealTo opens the content key of a bundle, from the wrap for this
// organisation's key or this device's. The caller holds n.mu.
func (n *Node) unsealTo(h msync.Header) ([]byte, error) {
	if len(h.To)%wrapSize != 0 {
		return nil, msync.ErrDamagedBundle
	}
	mine := seal.DevicePrivateX25519(n.key)
	myPub := seal.X25519Public(mine)
	ring := n.cachedKeyring()
	orgs := map[crdt.OrgID]bool{}
	for w := h.To; len(w) > 0; w = w[wrapSize:] {
		kind, id, pub, eph, sealed := w[0], [32]byte(w[1:33]), [32]byte(w[33:65]), [32]byte(w[65:97]), w[97:wrapSize]
		var priv []byte
		switch {
		case kind == wrapOrg && crdt.OrgID(id) == n.org:
			priv = ring[pub]
		case kind == wrapDevice && crdt.DeviceKey(id) == n.device && pub == myPub:
			priv = mine
		}
		if kind == wrapOrg {
			orgs[crdt.OrgID(id)] = true
		} else if org, ok := n.state.DeviceOrg(crdt.DeviceKey(id)); ok {
			orgs[org] = true
		}
		if priv == nil {
			continue
		}
		if ck, err := seal.OpenFrom(priv, eph, sealed, toAD(n.network, kind, id, pub, h.Set), toInfo); err == nil {
			return ck, nil
		}
	}
	if len(orgs) == 1 && !orgs[n.org] {
		for org := range orgs {
			return nil, fmt.Errorf("it was made for %s only: only that organisation's nodes can read it", nameOr(n.orgNames(), org))
		}
	}
	if _, ok := n.state.Standing(n.device); !ok {
		return nil, errors.New("this device cannot open it: it was made for the members' devices, and this one has been revoked or is not admitted")
	}
	return nil, errors.New("this device cannot open it: it was sealed for the members' keys and devices its maker knew, and this device holds none of those keys (its maker may not know yet that this device was added): ask for a new one once the maker has heard of this device")
}

// madeBy is the organisation whose device made a bundle or summary: one
// with standing, whose signature checks, other than this device. The
// caller holds n.mu.
func (n *Node) madeBy(h msync.Header) (crdt.OrgID, bool) {
	if h.Device == n.device || !crdt.VerifyWith(h.Device, h.SignedPart(), h.Sig) {
		return crdt.OrgID{}, false
	}
	return n.state.Standing(h.Device)
}

// bundleFile is one file an import takes.
type bundleFile struct {
	path  string
	h     msync.Header
	toKey []byte
	count int
	last  bool
	size  int64
}

// ImportBundles takes in the entries of bundle files, in any order. Every
// file is read and checked whole first: one that is not a bundle of this
// network, is cut short or was altered, or is restricted to another
// organisation, is named and nothing is imported. Then the entries go
// through Ingest, a batch at a time, parts of one export in their order.
func (n *Node) ImportBundles(ctx context.Context, paths []string, progress func(Progress)) (ImportReport, error) {
	rep := ImportReport{Why: map[string]int{}}
	n.mu.Lock()
	key, err := n.bundleKey()
	n.mu.Unlock()
	if err != nil {
		return rep, err
	}
	var files []*bundleFile
	total := 0
	var totalBytes int64
	var firstErr error
	for _, p := range paths {
		bf, err := n.checkBundle(ctx, p, key)
		switch {
		case errors.Is(err, errSummary):
			rep.Skipped = append(rep.Skipped, p)
			continue
		case err != nil && ctx.Err() != nil:
			return rep, fmt.Errorf("import interrupted while checking the files: nothing was imported")
		case err != nil:
			rep.Problems = append(rep.Problems, FileProblem{File: p, Problem: plainProblem(err)})
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", filepath.Base(p), err)
			}
			continue
		}
		files = append(files, bf)
		total += bf.count
		totalBytes += bf.size
	}
	if len(files) == 0 {
		switch {
		case firstErr != nil && len(paths) == 1:
			return rep, fmt.Errorf("%w; nothing was imported", firstErr)
		case firstErr != nil:
			return rep, fmt.Errorf("%w; no file could be imported", firstErr)
		}
		return rep, fmt.Errorf("%s is a summary, not a bundle: answer it with `murmur bundle export FILE --for %s`", filepath.Base(paths[0]), paths[0])
	}
	slices.SortStableFunc(files, func(a, b *bundleFile) int {
		return cmp.Or(bytes.Compare(a.h.Set[:], b.h.Set[:]), cmp.Compare(a.h.Part, b.h.Part))
	})
	rep.Files = len(files)
	done := 0
	var read int64
	tell := func() {
		if progress != nil {
			progress(Progress{Done: done, Total: total, Bytes: read})
		}
	}
	var waiting []crdt.ID
	for _, bf := range files {
		fileDone := 0
		moved := func(k int) {
			done, fileDone = done+k, fileDone+k
			at := read
			if bf.count > 0 {
				at += bf.size * int64(fileDone) / int64(bf.count)
			}
			if progress != nil {
				progress(Progress{Done: done, Total: total, Bytes: at})
			}
		}
		if err := n.importOne(ctx, bf, key, &rep, &waiting, moved); err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("import interrupted after %d of %d entries (those are kept): run the same import again to take the rest", done, total)
			}
			return rep, err
		}
		read += bf.size
		tell()
	}
	n.mu.Lock()
	rep.Waiting = 0
	for _, id := range waiting { // waiting then: accepted now, waiting still, or dropped
		switch st, ok := n.state.Has(id); {
		case !ok:
			rep.Dropped++
		case st == crdt.StatusWaiting:
			rep.Waiting++
		}
	}
	rep.StillWaiting = n.state.Counts().Waiting
	names := map[string]bool{}
	for _, bf := range files {
		rep.Imported = append(rep.Imported, bf.path)
		if org, ok := n.madeBy(bf.h); ok {
			n.rememberSummary(ctx, org, bf.h.Summary, bf.h.Made)
			names[nameOr(n.orgNames(), org)] = true
		}
	}
	n.mu.Unlock()
	for name := range names {
		rep.From = append(rep.From, name)
	}
	slices.Sort(rep.From)
	rep.Missing = missingParts(files)
	return rep, nil
}

// openToRead opens a file to read, with its problem in plain words.
func openToRead(path string) (*os.File, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, errors.New("there is no such file")
	case errors.Is(err, os.ErrPermission):
		return nil, errors.New("this user may not read it")
	}
	return f, err
}

// checkBundle reads a whole bundle file, checking every byte of it.
func (n *Node) checkBundle(ctx context.Context, path string, key msync.BundleKey) (*bundleFile, error) {
	f, err := openToRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("is a folder: give the bundle files in it")
	}
	br, err := msync.OpenBundle(f, key)
	if err != nil {
		return nil, err
	}
	bf := &bundleFile{path: path, h: br.Header(), size: fi.Size()}
	if bf.h.Kind == msync.KindSummary {
		return nil, errSummary
	}
	if len(bf.h.To) > 0 {
		n.mu.Lock()
		bf.toKey, err = n.unsealTo(bf.h)
		n.mu.Unlock()
		if err != nil {
			return nil, err
		}
		br.Unseal(bf.toKey)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := br.Next(); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
	}
	bf.count, bf.last = br.Count(), br.Last()
	return bf, nil
}

// importBatch is how many entries go to Ingest at a time: each batch is one
// durable transaction.
var importBatch = 1024

// importBatchBytes bounds a batch's bytes too: entries with long bodies
// (up to 64 KiB each) would otherwise make a batch of tens of megabytes,
// two of which are in memory at once.
const importBatchBytes = 4 << 20

// verifiedBatch is a batch of a bundle's entries, decoded and verified.
type verifiedBatch struct {
	valid []*crdt.Entry
	rep   IngestReport
	count int // entries read, refused ones too
}

// importOne takes in one bundle file's entries. Reading and verifying a
// batch (on all cores) goes on in a goroutine while the batch before is
// validated and stored: verification and the store's write then overlap,
// as they do when entries arrive from a peer.
func (n *Node) importOne(ctx context.Context, bf *bundleFile, key msync.BundleKey, rep *ImportReport, waiting *[]crdt.ID, moved func(int)) error {
	f, err := openToRead(bf.path)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(bf.path), err)
	}
	defer f.Close()
	br, err := msync.OpenBundle(f, key)
	if err != nil {
		return fmt.Errorf("%s: %w (it changed while being imported)", filepath.Base(bf.path), err)
	}
	if bf.toKey != nil {
		br.Unseal(bf.toKey)
	}
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan verifiedBatch, 1)
	var readErr error
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		readErr = readBatches(ctx, br, func(raws [][]byte) error {
			valid, r := verified(raws)
			select {
			case batches <- verifiedBatch{valid: valid, rep: r, count: len(raws)}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if readErr != nil && ctx.Err() == nil {
			readErr = fmt.Errorf("%s: %w (it changed while being imported)", filepath.Base(bf.path), readErr)
		}
	}()
	defer func() { // the reader stops before the file closes
		cancel()
		wg.Wait()
	}()
	for b := range batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		n.mu.Lock()
		r, err := n.ingest(ctx, b.valid, b.rep)
		n.mu.Unlock()
		if err != nil {
			return err
		}
		rep.New += r.Accepted + r.Waiting
		if r.Held > 0 { // stored, as from the wire, but without effect
			rep.Refused += r.Held
			rep.Why["their author had no standing to write them (a revoked device, or a change it may not make): kept aside, without effect"] += r.Held
		}
		rep.Waiting += r.Waiting
		*waiting = append(*waiting, r.WaitingIDs...)
		rep.Held += r.Duplicate
		rep.Refused += len(r.Refused)
		for _, why := range r.Refused {
			rep.Why[refusalWords(why)]++
		}
		moved(b.count)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return readErr // (written before batches closed)
}

// readBatches reads a bundle's entries and hands them to take, importBatch
// at a time.
func readBatches(ctx context.Context, br *msync.BundleReader, take func([][]byte) error) error {
	var batch [][]byte
	size := 0
	for {
		es, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		for _, e := range es {
			batch = append(batch, bytes.Clone(e))
			if size += len(e); len(batch) == importBatch || size >= importBatchBytes {
				if err := take(batch); err != nil {
					return err
				}
				batch, size = nil, 0 // (take keeps it)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return take(batch)
}

// refusalWords says why an entry was refused, for a person.
func refusalWords(err error) string {
	switch {
	case errors.Is(err, crdt.ErrWrongNetwork):
		return "they belong to another network"
	case errors.Is(err, crdt.ErrBrokenChain):
		return "they do not follow their author's previous entry"
	case errors.Is(err, crdt.ErrNotMember):
		return "their author is not a member's device"
	case errors.Is(err, crdt.ErrRevoked):
		return "their device was revoked before it wrote them"
	case errors.Is(err, crdt.ErrNoAuthority):
		return "their author had no authority for the change"
	}
	return "they are malformed or their signature does not check"
}

// missingParts names the parts of split exports that were not given.
func missingParts(files []*bundleFile) []string {
	type set struct {
		parts map[int]bool
		last  int
	}
	sets := map[[16]byte]*set{}
	var order [][16]byte
	for _, bf := range files {
		s := sets[bf.h.Set]
		if s == nil {
			s = &set{parts: map[int]bool{}}
			sets[bf.h.Set] = s
			order = append(order, bf.h.Set)
		}
		s.parts[bf.h.Part] = true
		if bf.last {
			s.last = bf.h.Part
		}
	}
	var out []string
	for _, id := range order {
		s := sets[id]
		if s.last == 1 && len(s.parts) == 1 {
			continue // one whole file
		}
		top := s.last
		if top == 0 {
			for p := range s.parts {
				top = max(top, p)
			}
		}
		var gone []string
		for p := 1; p <= top; p++ {
			if !s.parts[p] {
				gone = append(gone, fmt.Sprintf("%03d", p))
			}
		}
		switch {
		case len(gone) > 0 && s.last == 0:
			out = append(out, fmt.Sprintf("parts %s and any after %03d", strings.Join(gone, ", "), top))
		case len(gone) == 1:
			out = append(out, "part "+gone[0])
		case len(gone) > 1:
			out = append(out, "parts "+strings.Join(gone, ", "))
		case s.last == 0:
			out = append(out, fmt.Sprintf("any parts after %03d", top))
		}
	}
	return out
}

// What member organisations' nodes are known to hold: the meta value
// holdingsMeta, sealed like every meta value, by organisation.
const holdingsMeta = "holdings"

type holding struct {
	Cursor  int64  `json:"cursor,omitempty"`  // held everything this node had stored up to this cursor
	Synced  int64  `json:"synced,omitempty"`  // when (Unix ms)
	Summary []byte `json:"summary,omitempty"` // and what its summaries and bundles said it held
	Seen    int64  `json:"seen,omitempty"`    // made when (Unix ms)
}

// knownHoldings reads what is known of members' holdings. The caller
// holds n.mu.
func (n *Node) knownHoldings(ctx context.Context) map[crdt.OrgID]holding {
	out := map[crdt.OrgID]holding{}
	raw, err := n.store.GetMeta(ctx, holdingsMeta)
	if err != nil {
		return out
	}
	var m map[string]holding
	if json.Unmarshal(raw, &m) != nil {
		return out
	}
	for k, v := range m {
		if b, err := hex.DecodeString(k); err == nil && len(b) == 32 {
			out[crdt.OrgID(b)] = v
		}
	}
	return out
}

func (n *Node) saveHoldings(ctx context.Context, m map[crdt.OrgID]holding) error {
	out := map[string]holding{}
	for k, v := range m {
		out[hex.EncodeToString(k[:])] = v
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return n.store.SetMeta(ctx, holdingsMeta, raw)
}

// rememberSummary notes that org's node held what s says, at made. The
// caller holds n.mu. Failing to remember costs only a larger export later.
func (n *Node) rememberSummary(ctx context.Context, org crdt.OrgID, s msync.Summary, made time.Time) {
	if org == n.org {
		return
	}
	m := n.knownHoldings(ctx)
	k := m[org]
	if len(k.Summary) > 0 {
		if old, err := msync.DecodeSummary(k.Summary); err == nil {
			s = s.Merge(old)
		}
	}
	k.Summary = s.Encode()
	k.Seen = max(k.Seen, made.UnixMilli())
	m[org] = k
	n.saveHoldings(ctx, m)
}

// rememberSynced notes that org's node held everything this node had
// stored up to cursor, at time at. The caller holds n.mu.
func (n *Node) rememberSynced(ctx context.Context, org crdt.OrgID, cursor int64, at time.Time) {
	if org == n.org || cursor <= 0 {
		return
	}
	m := n.knownHoldings(ctx)
	k := m[org]
	if cursor <= k.Cursor {
		return
	}
	k.Cursor, k.Synced = cursor, at.UnixMilli()
	m[org] = k
	n.saveHoldings(ctx, m)
}

// compressedSize tells what an entry takes compressed on its own: near a
// part's limit, an export weighs the next entry by it rather than by its
// length, which for a long body of one repeated character is hundreds of
// times more.
type compressedSize struct {
	buf bytes.Buffer
	zw  *flate.Writer
}

func newCompressedSize() *compressedSize {
	c := &compressedSize{}
	c.zw, _ = flate.NewWriter(&c.buf, flate.BestSpeed) // (the level is valid)
	return c
}

func (c *compressedSize) size(raw []byte) int64 {
	c.buf.Reset()
	c.zw.Reset(&c.buf)
	c.zw.Write(raw)
	c.zw.Close()
	return int64(c.buf.Len()) + 16
}
