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
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return ""
	}
	name := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return name
}
