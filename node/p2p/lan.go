package p2p

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"github.com/murmurnet/murmur/crdt"
)

// Finding members on the local network (mDNS). A node announces itself on
// whatever network its machine joins — a café's Wi-Fi too — so the
// announcement must tell a listener nothing about whose node it is. Its
// service name is a keyed hash of the current day (UTC): it changes every
// day, and only whoever holds the key can compute it and tell that the
// node is one of theirs. On a private network (the default) the key
// derives from the network key, which a copy of a member's data directory
// holds only sealed under its passphrase: an imaged disk does not tell
// which laptops in a café belong to the network. On an open network it is
// the first half of the network's ID, which every member's murmur.json
// holds in clear. (A joiner looks for the door of its invite, under a name
// keyed with the invite's secret: door.go.) Nothing else in it names the
// network or the organisation: the instance and host names are random
// (go-libp2p's), and the text records carry the node's addresses and peer
// ID, which a listener without the log cannot place. (A copy of the log
// does place the peer ID: see ARCHITECTURE.md, "Strangers".)

// lanPeriod is how long one service name is used.
const lanPeriod = 24 * time.Hour

// lanPrefixLen is how much of an open network's ID the members' service
// name is keyed with.
const lanPrefixLen = 16

// lanKey is what the members' service name of network netID is keyed
// with: a key derived from the network key psk if the network is private
// (psk is not nil), the first lanPrefixLen bytes of its ID if it is open.
func lanKey(netID crdt.ID, psk []byte) []byte {
	if psk == nil {
		return append([]byte(nil), netID[:lanPrefixLen]...)
	}
	k, err := hkdf.Key(sha256.New, psk, netID[:], "murmur lan name v3", 32)
	if err != nil { // (only for a length SHA-256 cannot give)
		panic(err)
	}
	return k
}

// lanServiceName is the mDNS service name keyed with key (lanKey), during
// the period that holds t.
func lanServiceName(key []byte, t time.Time) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "murmur lan v2\n%d", t.Unix()/int64(lanPeriod/time.Second))
	// A DNS-SD service name: an underscore and at most 15 characters.
	return "_" + hex.EncodeToString(m.Sum(nil)[:7]) + "._udp"
}

// lanDiscovery runs go-libp2p's mDNS service under the current period's
// name, and starts it again under the next one when the period changes
// (renew).
type lanDiscovery struct {
	h       host.Host
	nameAt  func(time.Time) string
	notifee mdns.Notifee

	mu     gosync.Mutex
	name   string
	svc    mdns.Service
	closed bool
}

func startLAN(h host.Host, key []byte, notifee mdns.Notifee, now time.Time) (*lanDiscovery, error) {
	return startLANAs(h, func(t time.Time) string { return lanServiceName(key, t) }, notifee, now)
}

// startLANAs runs mDNS under the names nameAt gives (an invite's door).
func startLANAs(h host.Host, nameAt func(time.Time) string, notifee mdns.Notifee, now time.Time) (*lanDiscovery, error) {
	l := &lanDiscovery{h: h, nameAt: nameAt, notifee: notifee}
	if err := l.renew(now); err != nil {
		return nil, err
	}
	return l, nil
}

// renew starts the service under the name of the period that holds now,
// unless it runs under that name already.
func (l *lanDiscovery) renew(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := l.nameAt(now)
	if l.closed || name == l.name {
		return nil
	}
	if l.svc != nil {
		l.svc.Close()
		l.svc = nil
	}
	svc := mdns.NewMdnsService(l.h, name, l.notifee)
	if err := svc.Start(); err != nil {
		return err
	}
	l.svc, l.name = svc, name
	return nil
}

func (l *lanDiscovery) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.svc == nil {
		return nil
	}
	err := l.svc.Close()
	l.svc = nil
	return err
}
