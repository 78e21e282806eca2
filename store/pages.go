package store

// Reading table rows straight from a database file's pages, for Salvage:
// where the b-tree above a leaf is damaged (an interior page overwritten,
// or cut off the end of a truncated file), SQLite cannot reach the leaf,
// but the leaf is still there. Every page that looks like a table leaf is
// parsed (SQLite's file format, sections 1.6 and 2.1); what comes out is
// not trusted: an entry's sealed value opens only under this device's key
// and bound to its ID (seal.go), and the caller verifies every entry.

import (
	"encoding/binary"
	"io"
	"os"
)

// pageRow is one row of a table leaf: its rowid and its column values
// (nil, int64 or []byte; text is given as []byte).
type pageRow struct {
	rowid int64
	cols  []any
}

// sqliteVarint decodes SQLite's big-endian varint (1 to 9 bytes).
func sqliteVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8; i++ {
		if i >= len(b) {
			return 0, 0
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	if len(b) < 9 {
		return 0, 0
	}
	return v<<8 | uint64(b[8]), 9
}

// scanLeafPages calls fn for every row of every page of the file at path
// that parses as a table b-tree leaf. It stops early only if fn returns an
// error, or the file cannot be read at all.
func scanLeafPages(path string, fn func(pageRow) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var h [100]byte
	if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:16]) != sqliteMagic {
		return nil // no header: nothing to go by
	}
	pageSize := int(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return nil
	}
	usable := pageSize - int(h[20])
	if usable < 480 {
		return nil
	}
	pages := int((st.Size() + int64(pageSize) - 1) / int64(pageSize))
	page := make([]byte, pageSize)
	readPage := func(no int, buf []byte) bool {
		if no < 1 || no > pages {
			return false
		}
		n, err := f.ReadAt(buf, int64(no-1)*int64(pageSize))
		return n == len(buf) || (err == io.EOF && n > 0)
	}
	for no := 1; no <= pages; no++ {
		if !readPage(no, page) {
			continue
		}
		hdr := 0
		if no == 1 {
			hdr = 100
		}
		if page[hdr] != 0x0d { // not a table leaf
			continue
		}
		cells := int(binary.BigEndian.Uint16(page[hdr+3 : hdr+5]))
		for i := 0; i < cells; i++ {
			po := hdr + 8 + 2*i
			if po+2 > usable {
				break
			}
			off := int(binary.BigEndian.Uint16(page[po : po+2]))
			if off < hdr+8 || off >= usable {
				continue
			}
			payload, ok := leafCell(page[:usable], off, usable, func(no int) []byte {
				buf := make([]byte, pageSize)
				if !readPage(no, buf) {
					return nil
				}
				return buf[:usable]
			})
			if !ok {
				continue
			}
			cols, ok := parseRecord(payload.data)
			if !ok {
				continue
			}
			if err := fn(pageRow{rowid: payload.rowid, cols: cols}); err != nil {
				return err
			}
		}
	}
	return nil
}

type cellPayload struct {
	rowid int64
	data  []byte
}

// leafCell reads the table-leaf cell at off: its rowid and its whole
// payload, following overflow pages (at most as many as the payload
// needs).
func leafCell(page []byte, off, usable int, overflow func(int) []byte) (cellPayload, bool) {
	p, n := sqliteVarint(page[off:])
	if n == 0 || p > 1<<26 {
		return cellPayload{}, false
	}
	off += n
	rowid, n := sqliteVarint(page[off:])
	if n == 0 {
		return cellPayload{}, false
	}
	off += n
	size := int(p)
	maxLocal := usable - 35
	local := size
	if size > maxLocal {
		m := (usable-12)*32/255 - 23
		k := m + (size-m)%(usable-4)
		local = m
		if k <= maxLocal {
			local = k
		}
	}
	if off+local > len(page) {
		return cellPayload{}, false
	}
	data := append([]byte(nil), page[off:off+local]...)
	if local < size {
		if off+local+4 > len(page) {
			return cellPayload{}, false
		}
		next := int(binary.BigEndian.Uint32(page[off+local:]))
		for len(data) < size {
			ov := overflow(next)
			if ov == nil {
				return cellPayload{}, false
			}
			take := min(size-len(data), len(ov)-4)
			data = append(data, ov[4:4+take]...)
			next = int(binary.BigEndian.Uint32(ov[:4]))
		}
	}
	return cellPayload{rowid: int64(rowid), data: data}, true
}

// parseRecord decodes a record (SQLite's file format, 2.1).
func parseRecord(b []byte) ([]any, bool) {
	hsize, n := sqliteVarint(b)
	if n == 0 || hsize > uint64(len(b)) || int(hsize) < n {
		return nil, false
	}
	var types []uint64
	for i := n; i < int(hsize); {
		t, m := sqliteVarint(b[i:int(hsize)])
		if m == 0 {
			return nil, false
		}
		types = append(types, t)
		i += m
	}
	body := b[hsize:]
	cols := make([]any, 0, len(types))
	for _, t := range types {
		switch {
		case t == 0:
			cols = append(cols, nil)
		case t >= 1 && t <= 6:
			size := [...]int{0, 1, 2, 3, 4, 6, 8}[t]
			if len(body) < size {
				return nil, false
			}
			var v int64
			for _, c := range body[:size] {
				v = v<<8 | int64(c)
			}
			if shift := 64 - 8*size; shift > 0 { // sign-extend
				v = v << shift >> shift
			}
			cols = append(cols, v)
			body = body[size:]
		case t == 7:
			if len(body) < 8 {
				return nil, false
			}
			cols = append(cols, nil) // a float: no column of ours
			body = body[8:]
		case t == 8:
			cols = append(cols, int64(0))
		case t == 9:
			cols = append(cols, int64(1))
		case t >= 12:
			size := int((t - 12) / 2)
			if size > len(body) {
				return nil, false
			}
			cols = append(cols, append([]byte(nil), body[:size]...))
			body = body[size:]
		default:
			return nil, false
		}
	}
	return cols, true
}
