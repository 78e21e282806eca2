package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

var benchMillion = flag.Bool("store.million", false, "BenchmarkFacts at 1,000,000 records too (builds for minutes)")

// factsBenchRecords is n records of a log shaped like a network's: 5
// organisations of 2 devices; of every 20 records, 8 requests (of 5
// types), 8 responses and 2 closes naming a recent request, 1 grant with
// 2 tokens and 1 address hint (a resident kind); 1 in 200 waits.
func factsBenchRecords(from, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		k := from + i
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(k))
		raw := make([]byte, 300)
		for j := 0; j < len(raw); j += 32 {
			h := sha256.Sum256(append(seed[:], byte(j)))
			copy(raw[j:], h[:])
		}
		r := Record{ID: crdt.ID(sha256.Sum256(raw)), Author: testKey(k % 10), Seq: uint64(k/10 + 1), Clock: crdt.ClockAt(1_700_000_000_000 + uint64(k)*1000),
			Status: crdt.StatusAccepted, Raw: raw}
		request := func(m int) crdt.ID { // a request some records before
			m = max(0, m-m%20)
			var s [8]byte
			binary.BigEndian.PutUint64(s[:], uint64(m))
			return crdt.ID(sha256.Sum256(s[:]))
		}
		switch c := k % 20; {
		case c < 8:
			r.Kind, r.Keys = crdt.KindRequest, crdt.Keys{View: crdt.ViewRequest, Tag: uint64(1 + k%5)}
		case c < 16:
			r.Kind, r.Keys = crdt.KindResponse, crdt.Keys{View: crdt.ViewResponse, Ref: request(k - 20*(k%7))}
		case c < 18:
			r.Kind, r.Keys = crdt.KindRequestClosed, crdt.Keys{View: crdt.ViewClose, Ref: request(k - 40)}
		case c < 19:
			r.Kind, r.Keys = crdt.KindGrant, crdt.Keys{View: crdt.ViewGrant, Tokens: [][32]byte{{byte(k)}, {byte(k >> 8), 1}}}
		default:
			r.Kind = crdt.KindAddressHint
		}
		if k%200 == 199 {
			r.Status = crdt.StatusWaiting
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkFacts times the questions a State and the read side ask, on a
// store of 100,000 records (and 1,000,000 with -store.million): the first
// page of 50 requests (all, and of one type), counting them, a device's
// tally, a Get, and reading the resident rows. Building the store reports
// what a Put of 1,000 records costs per record with every index.
//
// Measured (2 shared cores, Go 1.26, -benchtime 200x), 100,000 / 1,000,000
// records: Page50 235 / 238 us (50 rows opened: ~4.7 us each), Page50Tag
// 231 / 227 us, Count 8.8 / 9.4 us, CountTag 7.2 / 7.1 us, Device 6.1 /
// 6.1 us, Get 13.8 / 14.0 us, Counts 10 / 10 us, AcceptedHead 41 / 51 us,
// Refs 34 / 33 us, Resident (5,500 / 55,000 rows) 22 / 255 ms; storing
// 29 / 52 us a record.
func BenchmarkFacts(b *testing.B) {
	sizes := []int{100_000}
	if *benchMillion {
		sizes = append(sizes, 1_000_000)
	}
	for _, size := range sizes {
		b.Run(itoa(size), func(b *testing.B) {
			if testing.Short() {
				b.Skip("builds a large store")
			}
			ctx := context.Background()
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "murmur.db"), testSealKey)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			for i := 0; i < size; i += 1000 {
				if _, err := s.Put(ctx, factsBenchRecords(i, min(1000, size-i)), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("%d records stored in %v (%.1f us a record, in Puts of 1,000)", size, time.Since(start),
				float64(time.Since(start).Microseconds())/float64(size))
			some := factsBenchRecords(size/2, 1)[0]
			run := func(name string, fn func() error) {
				b.Run(name, func(b *testing.B) {
					for range b.N {
						if err := fn(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			run("Page50", func() error {
				p, err := s.Page(ctx, crdt.ViewRequest, 0, nil, nil, 50)
				if err == nil && len(p) != 50 {
					b.Fatalf("page of %d", len(p))
				}
				return err
			})
			run("Page50Tag", func() error {
				p, err := s.Page(ctx, crdt.ViewRequest, 3, nil, nil, 50)
				if err == nil && len(p) != 50 {
					b.Fatalf("page of %d", len(p))
				}
				return err
			})
			run("Page50Next", func() error {
				p, err := s.Page(ctx, crdt.ViewRequest, 0, nil, &crdt.Cursor{Clock: some.Clock, ID: some.ID}, 50)
				if err == nil && len(p) != 50 {
					b.Fatalf("page of %d", len(p))
				}
				return err
			})
			run("Count", func() error { _, err := s.Count(ctx, crdt.ViewRequest, 0, nil, nil); return err })
			run("CountTag", func() error { _, err := s.Count(ctx, crdt.ViewRequest, 3, nil, nil); return err })
			run("Device", func() error {
				n, _, err := s.Device(ctx, testKey(3))
				if err == nil && n < size/20 {
					b.Fatalf("device has %d", n)
				}
				return err
			})
			run("Get", func() error { _, err := s.Get(ctx, some.ID); return err })
			run("Counts", func() error { _, err := s.Counts(ctx); return err })
			run("AcceptedHead", func() error { _, _, err := s.AcceptedHead(ctx, testKey(3)); return err })
			run("Refs", func() error {
				return s.Refs(ctx, crdt.ViewResponse, some.ID, func(Record) error { return nil })
			})
			run("Resident", func() error {
				n := 0
				err := s.Resident(ctx, true, func(Record) error { n++; return nil })
				if err == nil && n < size/20 {
					b.Fatalf("%d resident", n)
				}
				return err
			})
		})
	}
}

func itoa(n int) string {
	switch {
	case n%1_000_000 == 0:
		return string(rune('0'+n/1_000_000)) + "M"
	case n%1000 == 0:
		return itoaPlain(n/1000) + "k"
	}
	return itoaPlain(n)
}

func itoaPlain(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoaPlain(n/10) + string(rune('0'+n%10))
}
