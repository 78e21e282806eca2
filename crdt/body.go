package crdt

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Body formats. Each kind's body is a record (codec.go). The rules checked
// here are syntactic and frozen with the format: a region is two capital
// letters, not "a code ISO has assigned today", because a rule that can
// change between releases would let two releases disagree about the same
// entry. Vocabularies (which regions exist, which support types the
// directory documents) are enforced where people type, in the CLI.

// Genesis founds a network and its first organisation (kind 1).
//
// SealedCommitted: every sealed body on the network commits to its content
// key (version 2): one without (version 1) is held, not accepted. Networks
// founded before the commitment existed hold version-1 bodies, which keep
// their meaning there.
//
//	1 network name  2 organisation name  3 quorum (stewards needed to admit)  4 sealed bodies commit (bool)
type Genesis struct {
	NetworkName     string
	OrgName         string
	Quorum          uint64
	SealedCommitted bool
}

// Admission is one steward organisation's approval of a new organisation
// (kind 2). The organisation is admitted once approvals from Quorum
// distinct steward organisations are in.
//
//	1 first device key  2 organisation name  3 steward (bool)
type Admission struct {
	Device  DeviceKey
	Name    string
	Steward bool
}

// Org is the ID of the organisation the admission is for.
func (a *Admission) Org() OrgID { return OrgIDFor(a.Device) }

// StewardChange is one steward organisation's approval of a change to who
// the stewards are (kind 24): that Org becomes a steward (Steward true) or
// stops being one (false). The change takes effect once steward
// organisations as many as the quorum in force (or every steward, while
// there are fewer) have approved it; see membership.go.
//
//	1 organisation  2 steward (bool)
type StewardChange struct {
	Org     OrgID
	Steward bool
}

// QuorumChange is one steward organisation's approval of a new quorum
// (kind 25): how many steward organisations must approve an admission, a
// steward change or a quorum change. It takes effect the same way.
//
//	1 quorum
type QuorumChange struct {
	Quorum uint64
}

// DeviceAdded adds a device to an organisation (kind 3).
//
//	1 device key  2 organisation  3 label
type DeviceAdded struct {
	Device DeviceKey
	Org    OrgID
	Label  string
}

// DeviceRevoked revokes a device (kind 4). The revoker names the last entry
// of that device it accepts: Cutoff is its sequence number and Head its ID
// (both zero: nothing of the device is accepted). Entries of the device are
// accepted only if they are Head or one of Head's predecessors, whatever
// order anything arrives in; the revocation itself depends on Head.
//
//	1 device key  2 cut-off seq  3 head  4 reason
type DeviceRevoked struct {
	Device DeviceKey
	Cutoff uint64
	Head   ID
	Reason string
}

// Directory is an organisation's directory entry (kind 5); the latest by
// clock (then ID) from any of its devices wins.
//
//	1 name  2 regions  3 offers  4 languages  5 groups
//	6 turnaround (hours)  7 contact note
type Directory struct {
	Name            string
	Regions         []string
	Offers          []string
	Languages       []string
	Groups          []string
	TurnaroundHours uint64
	Contact         string
}

// RequestType is what a request asks for.
type RequestType uint64

// Request types. A type this release does not know is kept and shown as
// such, so that a newer release can add types.
const (
	Verification RequestType = 1
	Referral     RequestType = 2
	Funding      RequestType = 3
	Letter       RequestType = 4
	Alert        RequestType = 5
)

var requestTypeNames = []string{Verification: "verification", Referral: "referral", Funding: "funding", Letter: "letter", Alert: "alert"}

func (t RequestType) String() string {
	if t > 0 && int(t) < len(requestTypeNames) {
		return requestTypeNames[t]
	}
	return fmt.Sprintf("type-%d", uint64(t))
}

// ParseRequestType reads a request type's name.
func ParseRequestType(s string) (RequestType, bool) {
	if i := slices.Index(requestTypeNames, s); i > 0 {
		return RequestType(i), true
	}
	return 0, false
}

// Request opens a request (kind 6). Amounts are in hundredths of the
// currency unit.
//
//	1 type  2 title  3 text  4 region  5 addressed to (org IDs)
//	6 respond by (Unix ms)  7 amount  8 currency  9 needs (support types)
//	10 languages  11 urgency (1 low .. 3 high)
type Request struct {
	Type      RequestType
	Title     string
	Text      string
	Region    string
	To        []OrgID
	RespondBy uint64
	Amount    uint64
	Currency  string
	Needs     []string
	Languages []string
	Urgency   uint64
}

// ResponseType is how a response answers.
type ResponseType uint64

// Response types.
const (
	Vouch    ResponseType = 1
	Concern  ResponseType = 2
	NotKnown ResponseType = 3
	Accept   ResponseType = 4
	Decline  ResponseType = 5
	Pledge   ResponseType = 6
	SignOn   ResponseType = 7
	Comment  ResponseType = 8
	Withdraw ResponseType = 9
)

var responseTypeNames = []string{Vouch: "vouch", Concern: "concern", NotKnown: "unknown", Accept: "accept", Decline: "decline", Pledge: "pledge", SignOn: "sign", Comment: "comment", Withdraw: "withdraw"}

func (t ResponseType) String() string {
	if t > 0 && int(t) < len(responseTypeNames) {
		return responseTypeNames[t]
	}
	return fmt.Sprintf("type-%d", uint64(t))
}

// ParseResponseType reads a response type's name.
func ParseResponseType(s string) (ResponseType, bool) {
	if i := slices.Index(responseTypeNames, s); i > 0 {
		return ResponseType(i), true
	}
	return 0, false
}

// Fits reports whether a response of type t answers a request of type r.
func (t ResponseType) Fits(r RequestType) bool {
	switch t {
	case Comment:
		return true
	case Vouch, Concern, NotKnown:
		return r == Verification
	case Accept, Decline:
		return r == Referral
	case Pledge, Withdraw:
		return r == Funding
	case SignOn:
		return r == Letter
	}
	return false
}

// Response answers a request (kind 7); the request is also among the
// entry's dependencies.
//
//	1 request  2 type  3 text  4 amount  5 currency
type Response struct {
	Request  ID
	Type     ResponseType
	Text     string
	Amount   uint64
	Currency string
}

// RequestClosed closes a request (kind 8); only the requesting
// organisation's close counts.
//
//	1 request  2 note
type RequestClosed struct {
	Request ID
	Note    string
}

// InvitePurpose says what an invite admits.
type InvitePurpose uint64

// Invite purposes.
const (
	InviteOrganisation InvitePurpose = 1 // a new organisation, admitted by stewards
	InviteDevice       InvitePurpose = 2 // another device of the inviting organisation
)

// Invite announces an invite code (kind 9). The code's secret stays with
// whoever holds the code: the entry carries only the public key derived
// from it, with which the joiner signs its request to join, so a member
// that has seen the invite can recognise the joiner without being able to
// join in its place. An admission (or, for a device, a device-added entry)
// that names the invite among its dependencies uses it; an invite admits
// one organisation (or one device), and only by entries written before it
// expires. Only stewards invite organisations; a device is invited by its
// organisation.
//
//	1 key  2 expires (Unix ms)  3 purpose  4 organisation (device invites)
type Invite struct {
	Key     [32]byte
	Expires uint64
	Purpose InvitePurpose
	Org     OrgID
}

// Grant records a grant a member made (kind 10), for the double-funding
// check. The applicant appears only as blinded tokens: a keyed hash of each
// normalised identifier (name with country, phone, e-mail, registration
// number) under a secret the network's members hold. KeyCheck identifies
// that secret (the first bytes of a keyed hash of a fixed text under it),
// so that records made under a different secret are recognised as not
// comparable rather than silently never matching. Day is the grant's date
// (days since 1970-01-01, UTC): coarse on purpose.
//
//	1 tokens  2 amount  3 currency  4 support type  5 day  6 key check
type Grant struct {
	Tokens   [][32]byte
	Amount   uint64
	Currency string
	Support  string
	Day      uint64
	KeyCheck [8]byte
}

// Redaction takes back the body of an entry (kind 11): every node drops the
// body of Target and keeps the rest, so the log stays verifiable. It counts
// only when written by a device of the organisation that wrote Target, and
// not for membership entries (their bodies are the membership) or other
// redactions. Target is also among the entry's dependencies.
//
//	1 target  2 reason
type Redaction struct {
	Target ID
	Reason string
}

// RedactionV2 takes back the words of an entry, not the facts (kind 20). As
// a Redaction, it counts only when written by a device of the
// organisation that wrote Target, and every node drops Target's body; but
// it carries the part of that body that is no one's words, Kept, so that
// the entry keeps its place in every count: a request's type, region,
// addressees and deadline, a response's type and amount. Kept is Target's
// body of kind KeptKind with its words left out (a request's title and
// text, a response's text, a close's note), as in a sealed entry's
// envelope; a sealed entry's kept body is its envelope. KeptKind is zero
// when the target's kind has nothing to keep (a directory entry). The
// reason is required: members are shown who redacted what, when and why.
// The kept body must fit Target (State checks it: the same kind, or for a
// sealed target the kind of envelope it carries); one that does not is
// ignored, and the entry counts as an old Redaction.
//
//	1 target  2 reason  3 kept kind  4 kept body
type RedactionV2 struct {
	Target   ID
	Reason   string
	KeptKind Kind
	Kept     []byte
}

// OrgKey publishes an organisation's encryption key (kind 12, the old
// form), written by one of its devices. Public is the X25519 key that bodies
// are sealed for. The first release took the latest OrgKey, by clock then
// ID, as the current one; since an author sets its own clock, that let a
// device about to be revoked make its own key current for ever. The old form
// is still read, with a narrower meaning: see OrgKeyV2 and
// State.OrgKeyViews. Each wrap hands the organisation's private keys, this one
// and the earlier ones, to one of its devices: the device's key (32
// bytes), an ephemeral X25519 key (32), then the keys sealed for the
// device (node/seal.go). A new one is written when a device joins the
// organisation (the same keys, wrapped for it too) and when one is revoked
// (a new key, wrapped for the others only).
//
//	1 public key  2 wraps (ascending)
type OrgKey struct {
	Public [32]byte
	Wraps  [][]byte
}

// OrgKeyV2 publishes an organisation's encryption key (kind 16): an OrgKey
// that names the org-key entry it replaces (zero for the organisation's
// first). Replaces is also among the entry's dependencies, and so are the
// revocations of the organisation's devices its author knew of: which key
// is current follows from these links and from standing, never from clocks
// (State.OrgKeyViews). Wraps as in OrgKey.
//
//	1 public key  2 replaces  3 wraps (ascending)
type OrgKeyV2 struct {
	Public   [32]byte
	Replaces ID
	Wraps    [][]byte
}

// Sealed carries a request or a response whose details only some
// organisations can read (kind 13). The envelope is the inner body's
// encoding with the sealed fields left out (a request's title and text, a
// response's text): it replicates to every member, for coordination. The
// details are encrypted under a fresh content key, which each wrap hands to
// one organisation: its ID (32 bytes), the organisation key it is sealed
// for (32), an ephemeral X25519 key (32), the sealed content key (48).
//
// Commit, when present, is a commitment to the content key (node/seal.go:
// an HMAC-SHA256 keyed with the content key over the entry's binding): a
// reader accepts only the content key that matches it, so a forged wrap
// cannot hand it another key, and one ciphertext cannot show different
// text to different readers. A sealed body with a commitment is version 2;
// one without (version 1, written before the commitment existed) keeps its
// old meaning and is still read.
//
//	1 inner kind  2 envelope  3 nonce  4 ciphertext  5 wraps (ascending)  6 key commitment
type Sealed struct {
	Inner      Kind
	Envelope   []byte
	Nonce      [24]byte
	Ciphertext []byte
	Wraps      [][]byte
	Commit     [32]byte // zero: version 1, no commitment

	inner any // the envelope, decoded
}

// Open returns the envelope, decoded: a *Request or a *Response whose sealed
// fields are empty.
func (s *Sealed) Open() any { return s.inner }

// Details are the sealed fields of a sealed entry: its plaintext, before
// encryption. A response's has no title.
//
//	1 title  2 text
type Details struct {
	Title string
	Text  string
}

// EncodeDetails encodes d.
func EncodeDetails(d Details) []byte {
	w := &encoder{}
	w.string(1, d.Title)
	w.string(2, d.Text)
	return w.buf
}

// Combine decodes the details (a decrypted plaintext) and puts them back
// into the envelope: the whole body, checked as any body of its kind. deps
// are the sealed entry's.
func (s *Sealed) Combine(plaintext []byte, deps []ID) (any, error) {
	d := newDecoder("sealed details", plaintext)
	var det Details
	det.Title = d.string(1, MaxTitleLen)
	det.Text = d.string(2, MaxBodySize)
	if err := d.finish(); err != nil {
		return nil, err
	}
	var whole any
	switch env := s.inner.(type) {
	case *Request:
		c := *env
		c.Title, c.Text = det.Title, det.Text
		whole = &c
	case *Response:
		if det.Title != "" {
			return nil, invalid("sealed response: details with a title")
		}
		c := *env
		c.Text = det.Text
		whole = &c
	default:
		return nil, invalid("sealed: nothing to combine")
	}
	raw, err := EncodeBody(whole)
	if err != nil {
		return nil, err
	}
	return decodeBody(s.Inner, raw, deps)
}

// KeyShare hands a sealed entry's content key to more organisations (kind
// 14), without re-encrypting it: wraps as in Sealed. Target is also among
// the entry's dependencies.
//
//	1 target  2 wraps (ascending)
type KeyShare struct {
	Target ID
	Wraps  [][]byte
}

// AddressHint is a device's statement of where its node can be reached
// (kind 15): binary multiaddrs (node/ reads and checks them; here they are
// bytes of bounded length), and whether the node runs a relay for members.
// A device's latest hint, by its own chain order (sequence number, never
// its clock), replaces its earlier ones; a hint with no address withdraws
// them.
//
//	1 addresses (ascending)  2 relay
type AddressHint struct {
	Addrs [][]byte
	Relay bool
}

// SecretCheck anchors the network secret of the double-funding check
// (kind 17): the key check of the secret (an HMAC of a fixed label under
// it; node/grant.go), written by the founding device right after genesis,
// or by a steward's node on a network founded before this kind existed. A
// node given the secret by another member takes it only if it matches the
// anchor (State.NetworkKeyCheck): one written by a device of a steward
// organisation. Anyone else's is ignored.
//
//	1 key check
type SecretCheck struct {
	KeyCheck [8]byte
}

// keepable reports whether a RedactionV2 can keep a body of kind k: the
// kinds whose bodies mix facts others count with words.
func keepable(k Kind) bool {
	return k == KindRequest || k == KindResponse || k == KindRequestClosed
}

// Keep returns what a redaction of e keeps of its body: the kind and
// encoding of its body with the words left out (for a sealed entry, its
// envelope). kind is zero when e's body has nothing to keep.
func Keep(e *Entry) (kind Kind, kept []byte, err error) {
	if e.Withheld {
		return 0, nil, invalid("entry %v is held without its body", e.ID())
	}
	var b any
	switch e.Kind {
	case KindSealed:
		s, err := ParseSealed(e)
		if err != nil {
			return 0, nil, err
		}
		return s.Inner, append([]byte{}, s.Envelope...), nil
	case KindRequest, KindResponse, KindRequestClosed:
		b = e.ParsedBody()
	default:
		return 0, nil, nil
	}
	switch x := b.(type) {
	case *Request:
		c := *x
		c.Title, c.Text = "", ""
		b = &c
	case *Response:
		c := *x
		c.Text = ""
		b = &c
	case *RequestClosed:
		c := *x
		c.Note = ""
		b = &c
	default:
		return 0, nil, invalid("entry %v: unreadable body", e.ID())
	}
	kept, err = EncodeBody(b)
	return KindOf(b), kept, err
}

// EncodeBody returns the canonical encoding of one of the body types above.
func EncodeBody(b any) ([]byte, error) {
	w := &encoder{}
	switch b := b.(type) {
	case *Genesis:
		w.string(1, b.NetworkName)
		w.string(2, b.OrgName)
		w.uint(3, b.Quorum)
		w.bool(4, b.SealedCommitted)
	case *Admission:
		w.fixed(1, b.Device[:])
		w.string(2, b.Name)
		w.bool(3, b.Steward)
	case *DeviceAdded:
		w.fixed(1, b.Device[:])
		w.fixed(2, b.Org[:])
		w.string(3, b.Label)
	case *DeviceRevoked:
		w.fixed(1, b.Device[:])
		w.uint(2, b.Cutoff)
		w.fixed(3, b.Head[:])
		w.string(4, b.Reason)
	case *Directory:
		w.string(1, b.Name)
		w.strings(2, b.Regions)
		w.strings(3, b.Offers)
		w.strings(4, b.Languages)
		w.strings(5, b.Groups)
		w.uint(6, b.TurnaroundHours)
		w.string(7, b.Contact)
	case *Request:
		w.uint(1, uint64(b.Type))
		w.string(2, b.Title)
		w.string(3, b.Text)
		w.string(4, b.Region)
		to := make([][32]byte, len(b.To))
		for i, o := range b.To {
			to[i] = o
		}
		w.fixedList(5, to)
		w.uint(6, b.RespondBy)
		w.uint(7, b.Amount)
		w.string(8, b.Currency)
		w.strings(9, b.Needs)
		w.strings(10, b.Languages)
		w.uint(11, b.Urgency)
	case *Response:
		w.fixed(1, b.Request[:])
		w.uint(2, uint64(b.Type))
		w.string(3, b.Text)
		w.uint(4, b.Amount)
		w.string(5, b.Currency)
	case *RequestClosed:
		w.fixed(1, b.Request[:])
		w.string(2, b.Note)
	case *Invite:
		w.fixed(1, b.Key[:])
		w.uint(2, b.Expires)
		w.uint(3, uint64(b.Purpose))
		w.fixed(4, b.Org[:])
	case *Grant:
		w.fixedList(1, b.Tokens)
		w.uint(2, b.Amount)
		w.string(3, b.Currency)
		w.string(4, b.Support)
		w.uint(5, b.Day)
		w.fixed(6, b.KeyCheck[:])
	case *Redaction:
		w.fixed(1, b.Target[:])
		w.string(2, b.Reason)
	case *RedactionV2:
		w.fixed(1, b.Target[:])
		w.string(2, b.Reason)
		w.uint(3, uint64(b.KeptKind))
		w.bytes(4, b.Kept)
	case *OrgKey:
		w.fixed(1, b.Public[:])
		w.byteStrings(2, b.Wraps)
	case *OrgKeyV2:
		w.fixed(1, b.Public[:])
		w.fixed(2, b.Replaces[:])
		w.byteStrings(3, b.Wraps)
	case *Sealed:
		w.uint(1, uint64(b.Inner))
		w.bytes(2, b.Envelope)
		w.fixed(3, b.Nonce[:])
		w.bytes(4, b.Ciphertext)
		w.byteStrings(5, b.Wraps)
		w.fixed(6, b.Commit[:])
	case *KeyShare:
		w.fixed(1, b.Target[:])
		w.byteStrings(2, b.Wraps)
	case *AddressHint:
		w.byteStrings(1, b.Addrs)
		w.bool(2, b.Relay)
	case *SecretCheck:
		w.fixed(1, b.KeyCheck[:])
	case *StewardChange:
		w.fixed(1, b.Org[:])
		w.bool(2, b.Steward)
	case *QuorumChange:
		w.uint(1, b.Quorum)
	case *AlertAck:
		w.fixed(1, b.Request[:])
	default:
		return nil, fmt.Errorf("%w: no body format for %T", ErrInvalid, b)
	}
	if len(w.buf) > MaxBodySize {
		return nil, fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(w.buf), MaxBodySize)
	}
	return w.buf, nil
}

// KindOf returns the kind whose body format b is.
func KindOf(b any) Kind {
	switch b.(type) {
	case *Genesis:
		return KindGenesis
	case *Admission:
		return KindAdmission
	case *DeviceAdded:
		return KindDeviceAdded
	case *DeviceRevoked:
		return KindDeviceRevoked
	case *Directory:
		return KindDirectory
	case *Request:
		return KindRequest
	case *Response:
		return KindResponse
	case *RequestClosed:
		return KindRequestClosed
	case *Invite:
		return KindInvite
	case *Grant:
		return KindGrant
	case *Redaction:
		return KindRedaction
	case *RedactionV2:
		return KindRedactionV2
	case *OrgKey:
		return KindOrgKey
	case *OrgKeyV2:
		return KindOrgKeyV2
	case *Sealed:
		return KindSealed
	case *KeyShare:
		return KindKeyShare
	case *AddressHint:
		return KindAddressHint
	case *SecretCheck:
		return KindSecretCheck
	case *StewardChange:
		return KindStewardChange
	case *QuorumChange:
		return KindQuorumChange
	case *AlertAck:
		return KindAlertAck
	}
	return 0
}

// ParsedBody decodes the body of an entry of a known kind. It returns nil for an
// unknown kind or a withheld body.
func (e *Entry) ParsedBody() any {
	if !e.Kind.Known() || e.Withheld {
		return nil
	}
	b := e.parsed
	if b == nil {
		var err error
		if b, err = decodeBody(e.Kind, e.Body, e.Deps); err != nil {
			return nil // cannot happen for a decoded or signed entry
		}
	}
	if s, ok := b.(*Sealed); ok {
		return s.inner
	}
	return b
}

// ParseSealed decodes the body of a sealed entry.
func ParseSealed(e *Entry) (*Sealed, error) {
	if e.Kind != KindSealed || e.Withheld {
		return nil, invalid("entry %v holds no sealed body", e.ID())
	}
	b, err := decodeBody(e.Kind, e.Body, e.Deps)
	if err != nil {
		return nil, err
	}
	return b.(*Sealed), nil
}

// ParseKeyShare decodes the body of a key-share entry.
func ParseKeyShare(e *Entry) (*KeyShare, error) {
	if e.Kind != KindKeyShare || e.Withheld {
		return nil, invalid("entry %v holds no key share", e.ID())
	}
	b, err := decodeBody(e.Kind, e.Body, e.Deps)
	if err != nil {
		return nil, err
	}
	return b.(*KeyShare), nil
}

// ParseOrgKey decodes the body of an org-key entry of either form: its
// key and its wraps.
func ParseOrgKey(e *Entry) (*OrgKey, error) {
	if e.Kind != KindOrgKey && e.Kind != KindOrgKeyV2 || e.Withheld {
		return nil, invalid("entry %v holds no organisation key", e.ID())
	}
	b, err := decodeBody(e.Kind, e.Body, e.Deps)
	if err != nil {
		return nil, err
	}
	if v2, ok := b.(*OrgKeyV2); ok {
		return &OrgKey{Public: v2.Public, Wraps: v2.Wraps}, nil
	}
	return b.(*OrgKey), nil
}

// decodeBody decodes and checks a body of a known kind.
func decodeBody(k Kind, raw []byte, deps []ID) (any, error) {
	return decodeBodyAs(k, raw, deps, formWhole)
}

// bodyForm says what part of a body decodeBodyAs is given.
type bodyForm int

const (
	formWhole    bodyForm = iota // an entry's whole body
	formEnvelope                 // a sealed entry's envelope: the sealed fields left out
	// formKept is the body a RedactionV2 keeps of its target: the words
	// left out, as in an envelope. Its links to dependencies are checked
	// against the target's (State), not here: pass deps nil.
	formKept
)

// decodeBodyAs decodes a body, or the part of it that form says.
func decodeBodyAs(k Kind, raw []byte, deps []ID, form bodyForm) (any, error) {
	envelope := form != formWhole
	linked := func(id ID) bool { return form == formKept || slices.Contains(deps, id) }
	d := newDecoder(k.String()+" body", raw)
	var (
		out any
		err error
	)
	switch k {
	case KindGenesis:
		b := &Genesis{}
		b.NetworkName = d.string(1, MaxNameLen)
		b.OrgName = d.string(2, MaxNameLen)
		b.Quorum = d.uintMax(3, MaxQuorum)
		b.SealedCommitted = d.bool(4)
		if err = d.finish(); err == nil {
			err = firstErr(checkName("network name", b.NetworkName, true), checkName("organisation name", b.OrgName, true))
			if err == nil && b.Quorum == 0 {
				err = invalid("genesis: quorum must be at least 1")
			}
		}
		out = b
	case KindAdmission:
		b := &Admission{}
		d.fixed(1, b.Device[:])
		b.Name = d.string(2, MaxNameLen)
		b.Steward = d.bool(3)
		if err = d.finish(); err == nil {
			err = checkName("organisation name", b.Name, true)
			if err == nil && b.Device.IsZero() {
				err = invalid("admission: no device")
			}
		}
		out = b
	case KindDeviceAdded:
		b := &DeviceAdded{}
		d.fixed(1, b.Device[:])
		d.fixed(2, b.Org[:])
		b.Label = d.string(3, MaxNameLen)
		if err = d.finish(); err == nil {
			err = checkName("device label", b.Label, false)
			if err == nil && (b.Device.IsZero() || b.Org == OrgID{}) {
				err = invalid("device added: needs a device and an organisation")
			}
		}
		out = b
	case KindDeviceRevoked:
		b := &DeviceRevoked{}
		d.fixed(1, b.Device[:])
		b.Cutoff = d.uint(2)
		d.fixed(3, b.Head[:])
		b.Reason = d.string(4, MaxNoteLen)
		if err = d.finish(); err == nil {
			switch {
			case b.Device.IsZero():
				err = invalid("revocation: no device")
			case (b.Cutoff == 0) != b.Head.IsZero():
				err = invalid("revocation: a cut-off needs its head entry, and no cut-off none")
			case b.Cutoff > 0 && !slices.Contains(deps, b.Head):
				err = invalid("revocation: head is not among the entry's dependencies")
			default:
				err = checkText("reason", b.Reason)
			}
		}
		out = b
	case KindDirectory:
		b := &Directory{}
		b.Name = d.string(1, MaxNameLen)
		b.Regions = d.strings(2, MaxListLen, 2, true)
		b.Offers = d.strings(3, MaxListLen, MaxTokenLen, true)
		b.Languages = d.strings(4, MaxListLen, MaxTokenLen, true)
		b.Groups = d.strings(5, MaxListLen, MaxTokenLen, true)
		b.TurnaroundHours = d.uint(6)
		b.Contact = d.string(7, MaxNoteLen)
		if err = d.finish(); err == nil {
			err = firstErr(checkName("name", b.Name, false), checkAll(b.Regions, CheckRegion),
				checkAll(b.Offers, CheckToken), checkAll(b.Languages, CheckLanguage),
				checkAll(b.Groups, CheckToken), checkText("contact", b.Contact))
		}
		out = b
	case KindRequest:
		b := &Request{}
		b.Type = RequestType(d.uint(1))
		b.Title = d.string(2, MaxTitleLen)
		b.Text = d.string(3, MaxBodySize)
		b.Region = d.string(4, 2)
		for _, o := range d.fixedList(5, MaxAddressed) {
			b.To = append(b.To, OrgID(o))
		}
		b.RespondBy = d.uint(6)
		b.Amount = d.uint(7)
		b.Currency = d.string(8, 3)
		b.Needs = d.strings(9, MaxListLen, MaxTokenLen, true)
		b.Languages = d.strings(10, MaxListLen, MaxTokenLen, true)
		b.Urgency = d.uintMax(11, 3)
		if err = d.finish(); err == nil {
			if envelope && (b.Title != "" || b.Text != "") {
				err = invalid("sealed request: the title and text belong in the ciphertext")
			}
			err = firstErr(err, checkName("title", b.Title, !envelope), checkText("text", b.Text),
				checkOptional(b.Region, CheckRegion), checkMoney(b.Amount, b.Currency),
				checkAll(b.Needs, CheckToken), checkAll(b.Languages, CheckLanguage))
			if err == nil && b.Type == 0 {
				err = invalid("request: no type")
			}
			if err == nil && b.Type == Funding && b.Amount == 0 {
				err = invalid("funding request: no amount")
			}
		}
		out = b
	case KindResponse:
		b := &Response{}
		d.fixed(1, b.Request[:])
		b.Type = ResponseType(d.uint(2))
		b.Text = d.string(3, MaxBodySize)
		b.Amount = d.uint(4)
		b.Currency = d.string(5, 3)
		if err = d.finish(); err == nil {
			err = firstErr(checkText("text", b.Text), checkMoney(b.Amount, b.Currency))
			switch {
			case err != nil:
			case envelope && b.Text != "":
				err = invalid("sealed response: the text belongs in the ciphertext")
			case b.Request.IsZero() || b.Type == 0:
				err = invalid("response: needs a request and a type")
			case !linked(b.Request):
				err = invalid("response: request is not among the entry's dependencies")
			case b.Type == Pledge && b.Amount == 0:
				err = invalid("pledge: no amount")
			}
		}
		out = b
	case KindRequestClosed:
		b := &RequestClosed{}
		d.fixed(1, b.Request[:])
		b.Note = d.string(2, MaxNoteLen)
		if err = d.finish(); err == nil {
			err = checkText("note", b.Note)
			if err == nil && (b.Request.IsZero() || !linked(b.Request)) {
				err = invalid("close: request missing or not among the entry's dependencies")
			}
			if err == nil && envelope && b.Note != "" {
				err = invalid("kept close: the note is words a redaction takes back")
			}
		}
		out = b
	case KindInvite:
		b := &Invite{}
		d.fixed(1, b.Key[:])
		b.Expires = d.uint(2)
		b.Purpose = InvitePurpose(d.uint(3))
		d.fixed(4, b.Org[:])
		if err = d.finish(); err == nil {
			switch {
			case b.Key == [32]byte{} || b.Expires == 0:
				err = invalid("invite: needs a key and an expiry")
			case b.Purpose == 0:
				err = invalid("invite: no purpose")
			case (b.Purpose == InviteDevice) != (b.Org != OrgID{}):
				err = invalid("invite: a device invite names its organisation, and only it")
			}
		}
		out = b
	case KindGrant:
		b := &Grant{Tokens: d.fixedList(1, MaxTokens)}
		b.Amount = d.uint(2)
		b.Currency = d.string(3, 3)
		b.Support = d.string(4, MaxTokenLen)
		b.Day = d.uint(5)
		d.fixed(6, b.KeyCheck[:])
		if err = d.finish(); err == nil {
			switch {
			case len(b.Tokens) == 0:
				err = invalid("grant: no applicant tokens")
			case b.Day == 0 || b.KeyCheck == [8]byte{}:
				err = invalid("grant: needs a date and a key check")
			default:
				err = firstErr(checkMoney(b.Amount, b.Currency), CheckToken(b.Support))
			}
		}
		out = b
	case KindRedaction:
		b := &Redaction{}
		d.fixed(1, b.Target[:])
		b.Reason = d.string(2, MaxNoteLen)
		if err = d.finish(); err == nil {
			err = checkText("reason", b.Reason)
			if err == nil && (b.Target.IsZero() || !slices.Contains(deps, b.Target)) {
				err = invalid("redaction: target missing or not among the entry's dependencies")
			}
		}
		out = b
	case KindRedactionV2:
		b := &RedactionV2{}
		d.fixed(1, b.Target[:])
		b.Reason = d.string(2, MaxNoteLen)
		b.KeptKind = Kind(d.uint(3))
		b.Kept = d.bytes(4, MaxBodySize)
		if err = d.finish(); err == nil {
			err = checkText("reason", b.Reason)
			switch {
			case err != nil:
			case strings.TrimSpace(b.Reason) == "":
				err = invalid("redaction: no reason")
			case b.Target.IsZero() || !slices.Contains(deps, b.Target):
				err = invalid("redaction: target missing or not among the entry's dependencies")
			case b.KeptKind == 0 && len(b.Kept) > 0:
				err = invalid("redaction: a kept body without its kind")
			case b.KeptKind != 0 && !keepable(b.KeptKind):
				err = invalid("redaction: keeps a body of kind %v", b.KeptKind)
			case b.KeptKind != 0:
				_, err = decodeBodyAs(b.KeptKind, b.Kept, nil, formKept)
			}
		}
		out = b
	case KindOrgKey:
		b := &OrgKey{}
		d.fixed(1, b.Public[:])
		b.Wraps = d.byteStrings(2, MaxWraps, orgKeyWrapMin, orgKeyWrapMin+32*(MaxKeyEpochs-1))
		if err = d.finish(); err == nil {
			err = checkOrgKey(b.Public, b.Wraps)
		}
		out = b
	case KindOrgKeyV2:
		b := &OrgKeyV2{}
		d.fixed(1, b.Public[:])
		d.fixed(2, b.Replaces[:])
		b.Wraps = d.byteStrings(3, MaxWraps, orgKeyWrapMin, orgKeyWrapMin+32*(MaxKeyEpochs-1))
		if err = d.finish(); err == nil {
			err = checkOrgKey(b.Public, b.Wraps)
			if err == nil && !b.Replaces.IsZero() && !slices.Contains(deps, b.Replaces) {
				err = invalid("organisation key: the key it replaces is not among the entry's dependencies")
			}
		}
		out = b
	case KindSealed:
		b := &Sealed{Inner: Kind(d.uint(1))}
		b.Envelope = d.bytes(2, MaxBodySize)
		d.fixed(3, b.Nonce[:])
		b.Ciphertext = d.bytes(4, MaxBodySize)
		b.Wraps = d.byteStrings(5, MaxWraps, SealedWrapSize, SealedWrapSize)
		d.fixed(6, b.Commit[:])
		if err = d.finish(); err == nil {
			switch {
			case b.Inner != KindRequest && b.Inner != KindResponse:
				err = invalid("sealed: only requests and responses are sealed, not %v", b.Inner)
			case len(b.Ciphertext) < 16 || len(b.Wraps) == 0 || b.Nonce == [24]byte{}:
				err = invalid("sealed: needs a nonce, a ciphertext and at least one wrap")
			default:
				b.inner, err = decodeBodyAs(b.Inner, b.Envelope, deps, formEnvelope)
			}
		}
		out = b
	case KindKeyShare:
		b := &KeyShare{}
		d.fixed(1, b.Target[:])
		b.Wraps = d.byteStrings(2, MaxWraps, SealedWrapSize, SealedWrapSize)
		if err = d.finish(); err == nil {
			if b.Target.IsZero() || !slices.Contains(deps, b.Target) || len(b.Wraps) == 0 {
				err = invalid("key share: needs its target among the dependencies, and a wrap")
			}
		}
		out = b
	case KindAddressHint:
		b := &AddressHint{}
		b.Addrs = d.byteStrings(1, MaxHintAddrs, 1, MaxAddrLen)
		b.Relay = d.bool(2)
		err = d.finish()
		out = b
	case KindAlertAck:
		b := &AlertAck{}
		d.fixed(1, b.Request[:])
		if err = d.finish(); err == nil && (b.Request.IsZero() || !slices.Contains(deps, b.Request)) {
			err = invalid("acknowledgement: alert missing or not among the entry's dependencies")
		}
		out = b
	case KindSecretCheck:
		b := &SecretCheck{}
		d.fixed(1, b.KeyCheck[:])
		if err = d.finish(); err == nil && b.KeyCheck == [8]byte{} {
			err = invalid("secret check: no key check")
		}
		out = b
	case KindStewardChange:
		b := &StewardChange{}
		d.fixed(1, b.Org[:])
		b.Steward = d.bool(2)
		if err = d.finish(); err == nil && b.Org == (OrgID{}) {
			err = invalid("steward change: no organisation")
		}
		out = b
	case KindQuorumChange:
		b := &QuorumChange{}
		b.Quorum = d.uintMax(1, MaxQuorum)
		if err = d.finish(); err == nil && b.Quorum == 0 {
			err = invalid("quorum change: the quorum must be at least 1")
		}
		out = b
	default:
		return nil, invalid("no body format for %v", k)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func checkOrgKey(public [32]byte, wraps [][]byte) error {
	if public == [32]byte{} || len(wraps) == 0 {
		return invalid("organisation key: needs a key and at least one wrap")
	}
	for _, w := range wraps {
		if (len(w)-orgKeyWrapMin)%32 != 0 {
			return invalid("organisation key: a wrap of %d bytes", len(w))
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkAll(list []string, check func(string) error) error {
	for _, s := range list {
		if err := check(s); err != nil {
			return err
		}
	}
	return nil
}

func checkOptional(s string, check func(string) error) error {
	if s == "" {
		return nil
	}
	return check(s)
}

// checkName: one line of printable text, no surrounding space; invisible
// characters only where a language needs them (see nameProblem).
func checkName(what, s string, required bool) error {
	if s == "" {
		if required {
			return invalid("%s is empty", what)
		}
		return nil
	}
	if strings.TrimSpace(s) != s {
		return invalid("%s has leading or trailing space", what)
	}
	return checkNameChars(what, s, true)
}

// checkText: free text; newlines and tabs allowed, other controls not.
func checkText(what, s string) error {
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return invalid("%s contains a control character", what)
		}
	}
	return nil
}

func checkMoney(amount uint64, currency string) error {
	if (amount == 0) != (currency == "") {
		return invalid("an amount needs a currency, and a currency an amount")
	}
	if currency != "" && !isUpper(currency, 3) {
		return invalid("currency %q is not three capital letters", currency)
	}
	return nil
}

func isUpper(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// CheckRegion checks the form of a region code: two capital letters.
func CheckRegion(s string) error {
	if !isUpper(s, 2) {
		return invalid("region %q is not two capital letters", s)
	}
	return nil
}

// CheckToken checks the form of a vocabulary word (support type, group):
// lowercase letters and digits in hyphen-separated parts.
func CheckToken(s string) error {
	if len(s) == 0 || len(s) > MaxTokenLen || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return invalid("%q is not a vocabulary word (lowercase, digits, single hyphens)", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return invalid("%q is not a vocabulary word (lowercase, digits, single hyphens)", s)
		}
	}
	return nil
}

// CheckLanguage checks the form of a BCP 47 tag: a primary subtag of 2-3
// lowercase letters, then subtags of 1-8 letters or digits.
func CheckLanguage(s string) error {
	parts := strings.Split(s, "-")
	p := parts[0]
	ok := len(s) <= MaxTokenLen && (len(p) == 2 || len(p) == 3)
	for i := 0; ok && i < len(p); i++ {
		ok = p[i] >= 'a' && p[i] <= 'z'
	}
	for _, sub := range parts[1:] {
		ok = ok && len(sub) >= 1 && len(sub) <= 8
		for i := 0; ok && i < len(sub); i++ {
			c := sub[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		}
	}
	if !ok {
		return invalid("%q is not a BCP 47 language tag", s)
	}
	return nil
}
