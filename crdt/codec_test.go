package crdt

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden.txt")

// goldenEntries is one entry of every kind, with every field set, written
// by fixed keys at fixed times. Their bytes must never change.
func goldenEntries(t testing.TB) []struct {
	name string
	e    *Entry
} {
	f, b, c := newDev(1), newDev(2), newDev(3)
	n := newNet(t, f, 2)
	adm := n.admit(f, b, "Beta Rapid Response", true)
	add := n.addDevice(b, c, b.org())
	dir := n.write(b, &Directory{Name: "Beta", Regions: []string{"NI", "TZ"}, Offers: []string{"emergency-grant", "legal-aid"},
		Languages: []string{"es", "sw"}, Groups: []string{"journalists"}, TurnaroundHours: 48, Contact: "Signal: ask the steward"})
	req := n.write(f, &Request{Type: Funding, Title: "Relocation for a journalist", Text: "Family of four.\nNeeds 3 months.",
		Region: "NI", To: []OrgID{b.org()}, RespondBy: 1_700_100_000_000, Amount: 450000, Currency: "USD",
		Needs: []string{"relocation"}, Languages: []string{"es"}, Urgency: 3})
	resp := n.write(c, &Response{Request: req.ID(), Type: Pledge, Text: "We can cover half.", Amount: 225000, Currency: "USD"}, req.ID())
	closed := n.write(f, &RequestClosed{Request: req.ID(), Note: "Covered."}, req.ID())
	rev := n.revoke(b, c, 1)
	unknown := n.writeRaw(f, Kind(77), []byte{0xde, 0xad, 0xbe, 0xef})
	inv := n.invite(b, InviteDevice, b.org(), 9, 1_800_000_000_000)
	grant := n.write(f, &Grant{Tokens: [][32]byte{{1, 2, 3}, {4, 5, 6}}, Amount: 120000, Currency: "KES", Support: "legal-aid",
		Day: 20413, KeyCheck: [8]byte{0xab, 0xcd, 0xef, 1, 2, 3, 4, 5}})
	redaction := n.write(f, &Redaction{Target: req.ID(), Reason: "Names the defender."}, req.ID())
	orgKey := n.write(f, &OrgKey{Public: [32]byte{9, 9, 9}, Wraps: [][]byte{bytes.Repeat([]byte{0x42}, orgKeyWrapMin+32)}})
	env, _ := EncodeBody(&Request{Type: Referral, Region: "NI", To: []OrgID{b.org()}, Needs: []string{"relocation"}})
	sealed := n.write(f, &Sealed{Inner: KindRequest, Envelope: env, Nonce: [24]byte{1, 2, 3}, Ciphertext: bytes.Repeat([]byte{0x5c}, 40),
		Wraps: [][]byte{bytes.Repeat([]byte{0x17}, SealedWrapSize), bytes.Repeat([]byte{0x18}, SealedWrapSize)}})
	share := n.write(f, &KeyShare{Target: sealed.ID(), Wraps: [][]byte{bytes.Repeat([]byte{0x19}, SealedWrapSize)}}, sealed.ID())
	// /ip4/198.51.100.7/tcp/4721 and /ip4/198.51.100.7/udp/4721/quic-v1, binary, ascending.
	hint := n.write(f, &AddressHint{Addrs: [][]byte{
		{0x04, 198, 51, 100, 7, 0x06, 0x12, 0x71},
		{0x04, 198, 51, 100, 7, 0x91, 0x02, 0x12, 0x71, 0xcc, 0x03},
	}, Relay: true})
	// Version 2 of the sealed body: with a commitment to its content key.
	sealed2 := n.write(f, &Sealed{Inner: KindResponse, Envelope: mustBody(t, &Response{Request: req.ID(), Type: Comment}),
		Nonce: [24]byte{4, 5, 6}, Ciphertext: bytes.Repeat([]byte{0x5d}, 40),
		Wraps: [][]byte{bytes.Repeat([]byte{0x1a}, SealedWrapSize)}, Commit: [32]byte{0xc0, 0xff, 0xee}}, req.ID())
	// The new form of org-key entry: it names the one it replaces, and a
	// revocation it follows.
	orgKeyV2 := n.write(f, &OrgKeyV2{Public: [32]byte{8, 8, 8}, Replaces: orgKey.ID(),
		Wraps: [][]byte{bytes.Repeat([]byte{0x43}, orgKeyWrapMin), bytes.Repeat([]byte{0x44}, orgKeyWrapMin+64)}}, orgKey.ID(), rev.ID())
	check := n.write(f, &SecretCheck{KeyCheck: [8]byte{0xab, 0xcd, 0xef, 1, 2, 3, 4, 5}})
	// A redaction that keeps its target's envelope (the sealed response's),
	// with its reason.
	keptKind, kept, err := Keep(sealed2)
	if err != nil {
		t.Fatal(err)
	}
	redaction2 := n.write(f, &RedactionV2{Target: sealed2.ID(), Reason: "Named the defender.", KeptKind: keptKind, Kept: kept}, sealed2.ID())
	// Governance: a steward's approval of another steward, and of a quorum.
	stewardChange := n.write(f, &StewardChange{Org: b.org(), Steward: true})
	quorumChange := n.write(f, &QuorumChange{Quorum: 2})
	ack := n.write(b, &AlertAck{Request: req.ID()}, req.ID())
	// The genesis of a network whose sealed bodies all commit to their key.
	n2 := &tnet{t: t, now: 1_700_000_000_000}
	genesis2 := n2.write(newDev(4), &Genesis{NetworkName: "Committed network", OrgName: "Founders", Quorum: 2, SealedCommitted: true})
	return []struct {
		name string
		e    *Entry
	}{
		{"genesis", n.all[0]}, {"admission", adm}, {"device-added", add}, {"directory", dir},
		{"request", req}, {"response", resp}, {"request-closed", closed}, {"device-revoked", rev},
		{"unknown-kind", unknown}, {"request-withheld", req.Redacted()}, {"invite", inv},
		{"grant", grant}, {"redaction", redaction}, {"org-key", orgKey}, {"sealed", sealed}, {"key-share", share},
		{"address-hint", hint}, {"sealed-v2", sealed2}, {"org-key-v2", orgKeyV2}, {"secret-check", check},
		{"redaction-v2", redaction2},
		{"steward-change", stewardChange}, {"quorum-change", quorumChange},
		{"alert-ack", ack},
		{"genesis-sealed-committed", genesis2},
	}
}

func mustBody(t testing.TB, b any) []byte {
	t.Helper()
	raw, err := EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestGoldenVectors(t *testing.T) {
	const path = "testdata/golden.txt"
	var got bytes.Buffer
	got.WriteString("# name id encoding — one line per entry; these bytes must never change\n")
	for _, g := range goldenEntries(t) {
		fmt.Fprintf(&got, "%s %v %x\n", g.name, g.e.ID(), g.e.Raw())
	}
	if *updateGolden {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./crdt -run Golden -update once to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("the encoding changed; entries already signed would no longer verify or would change ID.\nwant:\n%s\ngot:\n%s", want, got.Bytes())
	}
	// Every golden line decodes, verifies, and re-encodes to itself.
	sc := bufio.NewScanner(bytes.NewReader(want))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		raw, _ := hex.DecodeString(parts[2])
		e, err := Verify(raw)
		if err != nil {
			t.Fatalf("%s: %v", parts[0], err)
		}
		if e.ID().String() != parts[1] || !bytes.Equal(e.encode(), raw) {
			t.Fatalf("%s: does not round-trip", parts[0])
		}
	}
}

func TestDecodeRefusesNonCanonical(t *testing.T) {
	g := goldenEntries(t)
	req := g[4].e
	raw := req.Raw()

	// Rebuild the entry around a modified header or body to hit each rule.
	withHeader := func(h []byte) []byte {
		w := &encoder{}
		w.bytes(1, h)
		w.fixed(2, req.Sig[:])
		w.bytes(3, req.Body)
		return w.buf
	}
	hdr := req.header
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"trailing byte", append(append([]byte{}, raw...), 0), ErrMalformed},
		{"unknown top field", append(append([]byte{}, raw...), 9, 1), ErrMalformed},
		{"truncated", raw[:len(raw)-1], ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"too large", make([]byte, MaxEntrySize+1), ErrTooLarge},
		{"non-minimal varint", withHeader(nonMinimalSeq(hdr)), ErrMalformed},
		{"unknown header field", withHeader(append(append([]byte{}, hdr...), 10, 1)), ErrMalformed},
		{"repeated header field", withHeader(append(append([]byte{}, hdr...), 9)), ErrMalformed},
		{"format 2", withHeader(append([]byte{1, 2}, hdr[2:]...)), ErrMalformed},
		{"zero field present", withHeader(append([]byte{1, 1, 4, 0}, hdr[2:]...)), ErrMalformed},
		{"body swapped", swapBody(raw, req, []byte("other")), ErrBodyMismatch},
		{"oversized header length", append([]byte{1, 0xff, 0xff, 0x03}, raw[3:]...), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.raw)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// nonMinimalSeq re-encodes the header's seq (field 4) in two bytes.
func nonMinimalSeq(h []byte) []byte {
	i := bytes.IndexByte(h, 4) // field 4 follows the 32-byte author
	for ; i >= 0 && i < len(h); i++ {
		if h[i] == 4 && i > 0 && i+2 < len(h) && h[i+2] == 5 {
			out := append([]byte{}, h[:i+1]...)
			out = append(out, h[i+1]|0x80, 0)
			return append(out, h[i+2:]...)
		}
	}
	panic("seq field not found")
}

func swapBody(raw []byte, e *Entry, body []byte) []byte {
	w := &encoder{}
	w.bytes(1, e.header)
	w.fixed(2, e.Sig[:])
	w.bytes(3, body)
	return w.buf
}

func TestVerifyRefusesBadSignature(t *testing.T) {
	e := goldenEntries(t)[4].e
	raw := append([]byte{}, e.Raw()...)
	// Flip a bit of the signature (it starts after the header field).
	sigAt := 1 + len(uvarintBytes(uint64(len(e.header)))) + len(e.header) + 1
	raw[sigAt] ^= 1
	if _, err := Verify(raw); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v", err)
	}
	if _, err := Decode(raw); err != nil {
		t.Fatalf("decode without verification: %v", err)
	}
}

func uvarintBytes(v uint64) []byte { w := &encoder{}; w.uint(1, v); return w.buf[1:] }

func TestWithheldBodyStaysVerifiable(t *testing.T) {
	e := goldenEntries(t)[4].e
	r := e.Redacted()
	v, err := Verify(r.Raw())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Withheld || v.ID() != e.ID() || v.ParsedBody() != nil {
		t.Fatalf("withheld %v id %v", v.Withheld, v.ID() == e.ID())
	}
}

func TestBodyRules(t *testing.T) {
	f := newDev(1)
	n := newNet(t, f, 1)
	req := n.request(f, "r")
	bad := []any{
		&Request{Type: Funding, Title: "no amount"},
		&Request{Type: Verification, Title: ""},
		&Request{Type: Verification, Title: "t", Region: "tz"},
		&Request{Type: Verification, Title: "t", Amount: 5},
		&Request{Type: Verification, Title: "t", Amount: 5, Currency: "usd"},
		&Request{Type: Verification, Title: "line\nbreak"},
		&Request{Type: Verification, Title: " padded"},
		&Request{Type: Verification, Title: "t", Languages: []string{"english"}},
		&Directory{Regions: []string{"TZ", "KE"}}, // not sorted
		&Directory{Offers: []string{"Legal Aid"}},
		&Genesis{NetworkName: "n", OrgName: "o"},
		&Response{Request: req.ID(), Type: Pledge},
		&Response{Request: req.ID(), Type: Vouch}, // request not among deps
	}
	for i, b := range bad {
		raw, err := EncodeBody(b)
		if err == nil {
			_, err = decodeBody(KindOf(b), raw, nil)
		}
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
			t.Errorf("%d %+v: got %v", i, b, err)
		}
		if _, err := Sign(f.priv, Draft{Network: n.network, Seq: 9, Prev: req.ID(), Clock: 9, Kind: KindOf(b), Body: raw}); err == nil {
			t.Errorf("%d: signed a body peers would refuse", i)
		}
	}
}

func TestClock(t *testing.T) {
	cases := []struct {
		prev, observed Clock
		now            uint64
		want           Clock
	}{
		{0, 0, 1000, ClockAt(1000)},
		{ClockAt(1000), 0, 1000, ClockAt(1000) + 1},                        // same millisecond: logical tick
		{ClockAt(2000), 0, 1000, ClockAt(2000) + 1},                        // wall clock went back
		{0, ClockAt(1500), 1000, ClockAt(1500) + 1},                        // follow a peer slightly ahead
		{0, ClockAt(1000 + 10*MaxDrift), 1000, ClockAt(1000+MaxDrift) + 1}, // not one far ahead
	}
	for _, c := range cases {
		if got := NextClock(c.prev, c.observed, c.now); got != c.want {
			t.Errorf("NextClock(%v, %v, %d) = %v, want %v", c.prev, c.observed, c.now, got, c.want)
		}
	}
}
