package crdt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ID identifies an entry: the SHA-256 of the bytes its author signed. A
// network is identified by the ID of its genesis entry.
type ID [32]byte

// DeviceKey is a device's ed25519 public key. It is also the device's
// identity: one key per device, never copied.
type DeviceKey [32]byte

// OrgID identifies a member organisation. It is derived from the key of the
// organisation's first device (see OrgIDFor), so an organisation has an ID
// before any steward has admitted it.
type OrgID [32]byte

// Kind says how an entry's body is to be read. Numbers are assigned once
// and never reused; a body format, once released, never changes (a new
// field means a new kind), so that old releases can keep relaying new
// entries as kinds they do not know.
type Kind uint64

// The kinds this release understands.
const (
	KindGenesis       Kind = 1
	KindAdmission     Kind = 2
	KindDeviceAdded   Kind = 3
	KindDeviceRevoked Kind = 4
	KindDirectory     Kind = 5
	KindRequest       Kind = 6
	KindResponse      Kind = 7
	KindRequestClosed Kind = 8
	KindInvite        Kind = 9
	KindGrant         Kind = 10
	KindRedaction     Kind = 11
	KindOrgKey        Kind = 12
	KindSealed        Kind = 13
	KindKeyShare      Kind = 14
	KindAddressHint   Kind = 15
	KindOrgKeyV2      Kind = 16
	KindSecretCheck   Kind = 17
	KindAlertAck      Kind = 18
	KindRedactionV2   Kind = 20
	// 19 and 21 to 23 are unassigned.
	KindStewardChange Kind = 24
	KindQuorumChange  Kind = 25
)

var kindNames = map[Kind]string{
	KindGenesis:       "genesis",
	KindAdmission:     "admission",
	KindDeviceAdded:   "device-added",
	KindDeviceRevoked: "device-revoked",
	KindDirectory:     "directory",
	KindRequest:       "request",
	KindResponse:      "response",
	KindRequestClosed: "request-closed",
	KindInvite:        "invite",
	KindGrant:         "grant",
	KindRedaction:     "redaction",
	KindOrgKey:        "org-key",
	KindSealed:        "sealed",
	KindKeyShare:      "key-share",
	KindAddressHint:   "address-hint",
	KindOrgKeyV2:      "org-key-v2",
	KindSecretCheck:   "secret-check",
	KindAlertAck:      "alert-ack",
	KindRedactionV2:   "redaction-v2",
	KindStewardChange: "steward-change",
	KindQuorumChange:  "quorum-change",
}

// Known reports whether this release can read bodies of kind k.
func (k Kind) Known() bool { _, ok := kindNames[k]; return ok }

// Membership reports whether entries of kind k change who may write.
func (k Kind) Membership() bool {
	switch k {
	case KindGenesis, KindAdmission, KindDeviceAdded, KindDeviceRevoked, KindInvite, KindStewardChange, KindQuorumChange:
		return true
	}
	return false
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind-%d", uint64(k))
}

// OrgIDFor derives the ID of an organisation from its first device's key.
func OrgIDFor(first DeviceKey) OrgID {
	h := sha256.New()
	h.Write([]byte("murmur-org-v1\x00"))
	h.Write(first[:])
	var o OrgID
	h.Sum(o[:0])
	return o
}

func (id ID) String() string              { return hex.EncodeToString(id[:]) }
func (k DeviceKey) String() string        { return hex.EncodeToString(k[:]) }
func (o OrgID) String() string            { return hex.EncodeToString(o[:]) }
func (id ID) IsZero() bool                { return id == ID{} }
func (k DeviceKey) IsZero() bool          { return k == DeviceKey{} }
func (id ID) Less(o ID) bool              { return bytes.Compare(id[:], o[:]) < 0 }
func (o OrgID) Less(p OrgID) bool         { return bytes.Compare(o[:], p[:]) < 0 }
func (k DeviceKey) Less(o DeviceKey) bool { return bytes.Compare(k[:], o[:]) < 0 }

// ErrBadID is returned for text that is not a 64-digit lowercase hex ID.
var ErrBadID = errors.New("crdt: not a 64-character hex identifier")

func parse32(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return out, ErrBadID
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return out, ErrBadID
	}
	return out, nil
}

// ParseID reads an ID printed by ID.String.
func ParseID(s string) (ID, error) { b, err := parse32(s); return ID(b), err }

// ParseDeviceKey reads a key printed by DeviceKey.String.
func ParseDeviceKey(s string) (DeviceKey, error) { b, err := parse32(s); return DeviceKey(b), err }

// ParseOrgID reads an ID printed by OrgID.String.
func ParseOrgID(s string) (OrgID, error) { b, err := parse32(s); return OrgID(b), err }
