package p2p

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// Finding members on the local network (mDNS). A node announces itself on
// whatever network its machine joins — a café's Wi-Fi too — so the
// announcement must tell a listener nothing about whose node it is. Its
// service name is a keyed hash of the network's ID (its first 16 bytes)
// and of the current day (UTC): it changes every day, and only whoever
// knows the network's ID — its members — can compute it and tell that the
// node is one of theirs. (A joiner looks for the door of its invite, under
// a name keyed with the invite's secret: door.go.) Nothing else in it names the
// network or the organisation: the instance and host names are random
// (go-libp2p's), and the text records carry the node's addresses and peer
// ID, which a listener without the log cannot place. (A copy of the log
// does place the peer ID: see ARCHITECTURE.md, "Strangers".)

// lanPeriod is how long one service name is used.
const lanPeriod = 24 * time.Hour

// lanPrefixLen is how much of the network's ID the members' service name
// is keyed with (a joiner looks for the door of its invite instead).
const lanPrefixLen = 16

// lanServiceName is the mDNS service name of the network whose ID begins
// with prefix, during the period that holds t.
func lanServiceName(prefix []byte, t time.Time) string {
	m := hmac.New(sha256.New, prefix)
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

func startLAN(h host.Host, prefix []byte, notifee mdns.Notifee, now time.Time) (*lanDiscovery, error) {
	prefix = append([]byte(nil), prefix...)
	return startLANAs(h, func(t time.Time) string { return lanServiceName(prefix, t) }, notifee, now)
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
