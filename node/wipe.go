package node

import (
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The panic wipe. It destroys a data directory so that nothing in it can
// be read back through the file system: every file (the database, its WAL
// and shared-memory files, the device key, the network key and secret, the
// run and lock files, anything left over) is overwritten with random bytes
// in place, synced, then removed, and the directory with it. What it cannot
// reach — a copy taken before, a backup or snapshot, blocks that a flash
// drive's wear-levelling or a copy-on-write file system kept elsewhere,
// swap — is described in the README.

// stopTimeout is how long a wipe waits for a node running on the directory
// to stop when asked, before killing it.
const stopTimeout = 5 * time.Second

// StopRunning stops a node running on dir, if there is one (asked to stop,
// killed if it has not within stopTimeout), and reports whether there was.
func StopRunning(dir string) (bool, error) {
	l, err := acquireRunLock(filepath.Join(dir, runLockName))
	if err == nil {
		l.release()
		return false, nil
	}
	info, ok := readRunFile(dir)
	if !ok || info.PID <= 0 || info.PID == os.Getpid() {
		return true, fmt.Errorf("a node is running on %s but does not say which process it is: stop it first", dir)
	}
	if err := stopProcess(info.PID, false); err != nil {
		return true, fmt.Errorf("stopping the node running on %s (process %d): %w", dir, info.PID, err)
	}
	deadline := time.Now().Add(stopTimeout)
	killed := false
	for {
		if l, err := acquireRunLock(filepath.Join(dir, runLockName)); err == nil {
			l.release()
			return true, nil
		}
		if time.Now().After(deadline) {
			if killed {
				return true, fmt.Errorf("the node running on %s (process %d) does not stop", dir, info.PID)
			}
			stopProcess(info.PID, true)
			killed, deadline = true, time.Now().Add(stopTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Wipe destroys dir: every file under it is overwritten with random bytes,
// synced and removed, then the directories. A node running on it must be
// stopped first (StopRunning). It goes on past a file it cannot destroy
// and reports the first such failure at the end.
func Wipe(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("nothing to wipe at %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a data directory", dir)
	}
	var files, dirs []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			dirs = append(dirs, path)
		case d.Type().IsRegular():
			files = append(files, path)
		default: // a symlink or special file: removed, not followed
			files = append(files, path)
		}
		return nil
	})
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	keep(err)
	for _, f := range files {
		keep(shred(f))
	}
	slices.Reverse(dirs) // deepest first
	for _, d := range dirs {
		keep(os.Remove(d))
	}
	if d, err := os.Open(filepath.Dir(dir)); err == nil { // make the removals durable
		d.Sync()
		d.Close()
	}
	return first
}

// shred overwrites a regular file with random bytes, syncs it, and removes
// it; anything else is removed.
func shred(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		if err := overwrite(path, fi.Size()); err != nil {
			os.Remove(path)
			return fmt.Errorf("overwriting %s: %w", path, err)
		}
	}
	return os.Remove(path)
}

func overwrite(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		return err
	}
	return f.Sync()
}

// RunningPeers lists the addresses (with /p2p/PEERID) of the peers that a
// node running on n's directory is connected to, as it last said.
func (n *Node) RunningPeers() []string {
	info, ok := n.running()
	if !ok {
		return nil
	}
	return info.PeerAddrs
}

// IsDataDir reports whether dir looks like a Murmur data directory (a
// node's, or one joining a network), so that a wipe aimed at the wrong
// directory destroys nothing.
func IsDataDir(dir string) bool {
	for _, name := range []string{configName, keyName, dbName, joinName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}
