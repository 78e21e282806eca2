package store

// Reading the WAL beside a database file the way SQLite does when it
// recovers it (SQLite's file format, section 4): the frames that count are
// those after a valid header whose salts match it and whose cumulative
// checksums hold, up to the last frame that ends a transaction (a commit
// frame, which gives the database's size in pages). A reader takes each
// page from the WAL's latest committed frame of it, if any, and from the
// database file otherwise.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
)

const (
	walMagicLE    = 0x377f0682 // checksums over little-endian words
	walMagicBE    = 0x377f0683 // over big-endian words
	walVersion    = 3007000
	walHeaderSize = 32
	walFrameHead  = 24
)

// walPages is what a WAL holds for readers: the pages of its committed
// frames, and the database's size in pages at its last commit.
type walPages struct {
	pageSize int64
	pages    map[uint32]bool
	dbPages  uint32
}

// readWAL reads the committed content of the WAL at path. It returns
// nil, nil when there is no WAL, or none that SQLite would read (a bad
// header, no commit frame).
func readWAL(path string) (*walPages, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var h [walHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, nil // empty or cut in its header: SQLite reads it as empty
	}
	magic := binary.BigEndian.Uint32(h[0:4])
	if magic != walMagicLE && magic != walMagicBE || binary.BigEndian.Uint32(h[4:8]) != walVersion {
		return nil, nil
	}
	pageSize := int64(binary.BigEndian.Uint32(h[8:12]))
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return nil, nil
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic == walMagicBE {
		order = binary.BigEndian
	}
	s0, s1 := walChecksum(order, 0, 0, h[:24])
	if s0 != binary.BigEndian.Uint32(h[24:28]) || s1 != binary.BigEndian.Uint32(h[28:32]) {
		return nil, nil
	}
	w := &walPages{pageSize: pageSize, pages: map[uint32]bool{}}
	var pending []uint32 // pages of the transaction not committed yet
	frame := make([]byte, walFrameHead+pageSize)
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			break // the end, or a frame cut short: SQLite stops there too
		}
		fh := frame[:walFrameHead]
		if string(fh[8:16]) != string(h[16:24]) { // salts: a frame of an earlier WAL
			break
		}
		s0, s1 = walChecksum(order, s0, s1, fh[:8])
		s0, s1 = walChecksum(order, s0, s1, frame[walFrameHead:])
		if s0 != binary.BigEndian.Uint32(fh[16:20]) || s1 != binary.BigEndian.Uint32(fh[20:24]) {
			break
		}
		page := binary.BigEndian.Uint32(fh[0:4])
		if page == 0 {
			break
		}
		pending = append(pending, page)
		if commit := binary.BigEndian.Uint32(fh[4:8]); commit != 0 {
			for _, p := range pending {
				w.pages[p] = true
			}
			pending = pending[:0]
			w.dbPages = commit
		}
	}
	if w.dbPages == 0 {
		return nil, nil
	}
	return w, nil
}

// walChecksum continues SQLite's WAL checksum (s0, s1) over b, a
// multiple of 8 bytes.
func walChecksum(order binary.ByteOrder, s0, s1 uint32, b []byte) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// walCovers reports whether the WAL at walPath holds every page of the
// database that the database file db lacks: then SQLite reads the
// database whole, though the file is short (a checkpoint that found no
// room on the disk leaves it so, and tries again at the next one).
func walCovers(walPath string, db *os.File) bool {
	w, err := readWAL(walPath)
	if err != nil || w == nil {
		return false
	}
	st, err := db.Stat()
	if err != nil {
		return false
	}
	size := st.Size()
	// The file's own header, if it has one, must agree with the WAL.
	var h [100]byte
	if n, _ := db.ReadAt(h[:], 0); n == len(h) {
		if string(h[:16]) != sqliteMagic {
			return false
		}
		ps := int64(binary.BigEndian.Uint16(h[16:18]))
		if ps == 1 {
			ps = 65536
		}
		if ps != w.pageSize {
			return false
		}
	} else if !w.pages[1] {
		return false // no header in the file, none in the WAL
	}
	whole := uint32(min(size/w.pageSize, int64(w.dbPages)))
	if int(w.dbPages-whole) > len(w.pages) {
		return false
	}
	for p := whole + 1; p <= w.dbPages; p++ {
		if !w.pages[p] {
			return false
		}
	}
	return true
}
