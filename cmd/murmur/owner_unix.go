//go:build unix

package main

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// notOwnersDir is why a command run as root must not use dir: it belongs
// to another user (a service's own, such as murmur), and every file the
// command wrote there (a database it repaired, the write-ahead log it
// opened, a join's files) would be root's, which that user's node could
// then not open: the service would no longer start. "" if dir is root's,
// is not there yet, or the command does not run as root.
func notOwnersDir(dir string) string {
	if os.Geteuid() != 0 {
		return ""
	}
	if owner, uid := dirOwner(dir); uid > 0 {
		return owner
	}
	return ""
}

// dirOwner is the user who owns dir, by name (by number if it has none),
// and its user ID; -1 if dir cannot be looked at.
func dirOwner(dir string) (string, int) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", -1
	}
	return fileOwner(fi)
}

// fileOwner is the user who owns the file fi describes, by name (by
// number if it has none), and its user ID; -1 if it is not known.
func fileOwner(fi os.FileInfo) (string, int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", -1
	}
	name := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return name, int(st.Uid)
}
