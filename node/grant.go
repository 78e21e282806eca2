package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
)

// The double-funding check. A member that makes a grant records it with
// the applicant's identifiers blinded (ident/applicant.go): a keyed hash of each
// normalised identifier under the network secret, which only members hold.
// Checking an applicant computes the same tokens here and looks them up in
// the local state: it works offline and tells no one who was checked.
//
// The network secret is made by the founding device at init. Every other
// device receives it from a member's node over the gated transport
// (SecretProtocol) once its organisation is admitted: the first
// reconciliation with any member after admission brings it. At rest it is
// sealed under a key derived from the device key, so it is as protected
// as the device key itself (by the passphrase, unless --no-passphrase).
//
// The secret is anchored: its key check is in a secret-check entry
// (crdt.SecretCheck) that only a steward organisation's device can write
// so that it counts (crdt.State.NetworkKeyCheck). The founding device
// writes it at init; on a network founded before the kind existed, the
// first steward's node that holds the secret writes it (EnsureSecretCheck,
// from the runner's gate loop). A node handed the secret takes it only if
// it matches the anchor; where there is none yet, only from a steward's
// node. A member that is not a steward therefore cannot make newcomers
// take a secret of its own (and record grants no one else can compare).

const (
	secretName = "network.secret"
	// secretSize is the network secret's length.
	secretSize = 32
)

// ErrNoSecret is returned by the grant commands on a node that has not
// received the network secret yet.
var ErrNoSecret = errors.New("this node has not received the network's secret for the double-funding check yet: it comes from any member's node once this organisation is admitted — run `murmur run` while a member is reachable")

// HasSecret reports whether this node holds the network secret.
func (n *Node) HasSecret() bool {
	_, err := os.Stat(filepath.Join(n.dir, secretName))
	return err == nil
}

// networkSecret opens the network secret. The node must be unlocked.
func (n *Node) networkSecret() ([]byte, error) {
	secret, err := openAtRest(filepath.Join(n.dir, secretName), n.key, n.device, n.network, "network-secret")
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, ErrNoSecret
	case err != nil:
		return nil, err
	case len(secret) != secretSize:
		return nil, fmt.Errorf("%s holds no usable secret", secretName)
	}
	return secret, nil
}

// storeSecret seals secret and writes it. The node must be unlocked.
func (n *Node) storeSecret(secret []byte) error {
	return sealAtRest(filepath.Join(n.dir, secretName), n.key, n.device, n.network, "network-secret", secret)
}

// EnsureSecretCheck anchors the network secret where no steward has: it
// writes the secret-check entry if this device is a steward
// organisation's, holds the secret, and the network has no anchor. It
// reports whether it wrote.
func (n *Node) EnsureSecretCheck(ctx context.Context) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ensureSecretCheck(ctx)
}

func (n *Node) ensureSecretCheck(ctx context.Context) (bool, error) {
	if n.key == nil {
		return false, ErrLocked
	}
	if n.recovering != nil { // what the state lacks says nothing yet (repair.go)
		return false, nil
	}
	if mine, ok := n.myOrg(); !ok || !mine.Steward {
		return false, nil
	}
	if _, ok := n.state.NetworkKeyCheck(); ok {
		return false, nil
	}
	secret, err := n.networkSecret()
	if errors.Is(err, ErrNoSecret) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if _, err := n.append(ctx, &crdt.SecretCheck{KeyCheck: keyCheck(secret)}); err != nil {
		return false, err
	}
	return true, nil
}

// needsSecret reports whether this node should ask for the network secret:
// it holds none, or one other than the anchored one (taken from a rogue
// member's node before the network had an anchor). The caller holds n.mu;
// the node must be unlocked to look at a held secret.
func (n *Node) needsSecret() bool {
	if !n.HasSecret() {
		return true
	}
	anchor, ok := n.state.NetworkKeyCheck()
	if !ok || n.key == nil {
		return false
	}
	secret, err := n.networkSecret()
	return err == nil && keyCheck(secret) != anchor
}

// stewardPeer reports whether p is a device, with standing, of a steward
// organisation. The caller holds n.mu.
func (n *Node) stewardPeer(p peer.ID) bool {
	k, ok := peerDevice(p)
	if !ok {
		return false
	}
	org, ok := n.state.Standing(k)
	if !ok {
		return false
	}
	o, ok := n.state.Org(org)
	return ok && o.Admitted && o.Steward
}

// keyCheck identifies a secret without revealing it.
func keyCheck(secret []byte) [8]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("murmur-key-check-v1"))
	var kc [8]byte
	copy(kc[:], m.Sum(nil))
	return kc
}

// GrantInput is a grant as typed.
type GrantInput struct {
	Applicants []string // identifiers (see ident.ParseApplicant)
	Country    string   // the applicant's country, for names and local phone numbers
	Amount     string
	Currency   string
	Support    string
	Date       string // YYYY-MM-DD; empty: today
}

// GrantMatch is an earlier grant to the same applicant.
type GrantMatch struct {
	ID        string   `json:"id"`
	Org       string   `json:"org"`
	OrgName   string   `json:"org_name"`
	Date      string   `json:"date"`
	Amount    money    `json:"amount"`
	Currency  string   `json:"currency"`
	Support   string   `json:"support"`
	MatchedOn []string `json:"matched_on"` // the kinds of identifier that matched: name, phone, email, id
}

// GrantCheck is what `grant check` prints.
type GrantCheck struct {
	Matches []GrantMatch `json:"matches"`
	// NotComparable counts grant records made under another network
	// secret: they cannot be compared with this node's tokens.
	NotComparable int `json:"not_comparable"`
}

// applicantTokens parses and blinds identifiers, sorted and without
// repeats, and says which kind of identifier each token is.
func applicantTokens(secret []byte, ids []string, country string) ([][32]byte, map[[32]byte]string, error) {
	if len(ids) == 0 {
		return nil, nil, inputErr("give at least one --applicant identifier (a name with --country, a phone number, an e-mail address, or id:NUMBER)")
	}
	if country != "" {
		c, err := ident.Region(country)
		if err != nil {
			return nil, nil, err
		}
		country = c
	}
	kinds := map[[32]byte]string{}
	var tokens [][32]byte
	for _, raw := range ids {
		id, err := ident.ParseApplicant(raw, country)
		if err != nil {
			return nil, nil, err
		}
		t := ident.BlindIdentifier(secret, id)
		if _, dup := kinds[t]; !dup {
			kinds[t] = id.Kind
			tokens = append(tokens, t)
		}
	}
	if len(tokens) > crdt.MaxTokens {
		return nil, nil, refuseInput("identifiers-many", crdt.MaxTokens)
	}
	slices.SortFunc(tokens, func(a, b [32]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
	return tokens, kinds, nil
}

// CheckGrant looks up an applicant among the grant records this node
// holds. It reads the local state only.
func (n *Node) CheckGrant(ids []string, country string) (GrantCheck, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	secret, err := n.networkSecret()
	if err != nil {
		return GrantCheck{}, err
	}
	tokens, kinds, err := applicantTokens(secret, ids, country)
	if err != nil {
		return GrantCheck{}, err
	}
	return n.checkTokens(secret, tokens, kinds), nil
}

func (n *Node) checkTokens(secret []byte, tokens [][32]byte, kinds map[[32]byte]string) GrantCheck {
	kc := keyCheck(secret)
	names := n.orgNames()
	out := GrantCheck{Matches: []GrantMatch{}}
	for c, count := range n.state.GrantKeyChecks() {
		if c != kc {
			out.NotComparable += count
		}
	}
	for _, g := range n.state.GrantsMatching(tokens) {
		if g.KeyCheck != kc {
			continue
		}
		m := GrantMatch{ID: g.ID.String(), Org: g.Org.String(), OrgName: names[g.Org], Date: dayString(g.Day),
			Amount: money(g.Amount), Currency: g.Currency, Support: g.Support, MatchedOn: []string{}}
		for _, t := range g.Tokens {
			if k, ok := kinds[t]; ok && !slices.Contains(m.MatchedOn, k) {
				m.MatchedOn = append(m.MatchedOn, k)
			}
		}
		slices.Sort(m.MatchedOn)
		out.Matches = append(out.Matches, m)
	}
	return out
}

// GrantRecorded is what `grant record` prints: the record, and the grants
// to the same applicant recorded before it.
type GrantRecorded struct {
	ID      string       `json:"id"`
	Earlier []GrantMatch `json:"earlier"`
}

// RecordGrant records a grant made by this organisation.
func (n *Node) RecordGrant(ctx context.Context, in GrantInput) (GrantRecorded, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.myOrg(); !ok {
		return GrantRecorded{}, refuse("grant-not-admitted")
	}
	secret, err := n.networkSecret()
	if err != nil {
		return GrantRecorded{}, err
	}
	tokens, kinds, err := applicantTokens(secret, in.Applicants, in.Country)
	if err != nil {
		return GrantRecorded{}, err
	}
	g := &crdt.Grant{Tokens: tokens, KeyCheck: keyCheck(secret)}
	if g.Amount, err = ident.Amount(in.Amount); err != nil {
		return GrantRecorded{}, err
	}
	if g.Currency, err = ident.Currency(in.Currency); err != nil {
		return GrantRecorded{}, err
	}
	if g.Support, err = ident.SupportType(in.Support); err != nil {
		return GrantRecorded{}, err
	}
	day := n.now().UTC()
	if in.Date != "" {
		if day, err = time.Parse("2006-01-02", strings.TrimSpace(in.Date)); err != nil {
			return GrantRecorded{}, refuseInput("date-form", in.Date)
		}
		if day.After(n.now().UTC()) {
			return GrantRecorded{}, refuseInput("date-future", in.Date)
		}
	}
	g.Day = uint64(day.Unix() / 86400)
	if g.Day == 0 {
		return GrantRecorded{}, refuseInput("date-early", in.Date)
	}
	earlier := n.checkTokens(secret, tokens, kinds).Matches
	e, err := n.append(ctx, g)
	if err != nil {
		return GrantRecorded{}, err
	}
	return GrantRecorded{ID: e.ID().String(), Earlier: earlier}, nil
}

func dayString(day uint64) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format("2006-01-02")
}
