package store

import (
	"errors"
	"path/filepath"
	"testing"
)

type codeErr int

func (c codeErr) Error() string { return "database or disk is full" }
func (c codeErr) Code() int     { return int(c) }

// SQLite's SQLITE_FULL (13, with any extended code) reads as ErrDiskFull,
// which says what to do; other errors do not.
func TestDiskFullSaysWhatToDo(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	if err := s.fail("update", codeErr(13)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("SQLITE_FULL: %v", err)
	}
	if err := s.fail("update", codeErr(13|3<<8)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("an extended SQLITE_FULL: %v", err)
	}
	if err := s.fail("update", codeErr(10|19<<8)); !errors.Is(err, ErrDiskFull) || err.Error() != ErrDiskFull.Error() {
		t.Fatalf("SQLITE_IOERR_SHMSIZE (the -shm could not grow): %v", err)
	}
	if err := s.fail("update", codeErr(10|3<<8)); errors.Is(err, ErrDiskFull) {
		t.Fatalf("SQLITE_IOERR_WRITE read as a full disk: %v", err)
	}
	if err := s.fail("update", codeErr(5)); errors.Is(err, ErrDiskFull) {
		t.Fatalf("SQLITE_BUSY read as a full disk: %v", err)
	}
}
