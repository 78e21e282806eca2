//go:build linux

package netns

import (
	"errors"
	"net"
	"net/netip"
	gosync "sync"
	"sync/atomic"
	"time"
)

// Forwarder emulates a thin link for UDP (QUIC) in user space: the
// kernel here has no netem. It listens at Listen; each datagram from a
// client crosses the Up profile and leaves from one of its own sockets
// towards Target; what Target answers crosses the Down profile back to
// that client. A node dialling Listen reaches the node at Target, and
// every byte between them takes the emulated link.
type Forwarder struct {
	Listen   netip.AddrPort // where clients send
	Upstream netip.Addr     // the forwarder's address towards Target
	Target   netip.AddrPort // where their datagrams go
	Up, Down Profile
	Seed     uint64

	ln      *net.UDPConn
	ups     []*upstream // a fixed pool, one per client at a time
	mu      gosync.Mutex
	up      *pipe
	down    *pipe
	done    chan struct{}
	wg      gosync.WaitGroup
	closing atomic.Bool
	once    gosync.Once
}

// upstream is a socket towards Target, lent to one client.
type upstream struct {
	conn   *net.UDPConn
	client netip.AddrPort // zero: free
	used   time.Time
}

// LinkStats counts one direction of a forwarder.
type LinkStats struct {
	Packets   int64 // offered to the link
	Bytes     int64 // offered, payload only
	WireBytes int64 // sent on the link (lost ones too), with IP and UDP headers
	QueueDrop int64 // dropped because the queue was full
	Lost      int64 // sent but lost
	Delivered int64 // packets that arrived
}

type pipe struct {
	mu    gosync.Mutex
	link  *link
	stats LinkStats
	q     chan packet
}

type packet struct {
	at   time.Time
	data []byte
	to   func([]byte) // delivers it
}

// maxQueued bounds the packets in flight in one direction, whatever the
// profile (the byte queue and the delay bound them too).
const maxQueued = 4096

// poolSize is how many clients the forwarder serves at once; a new
// client beyond it takes the socket of the one heard from least recently.
const poolSize = 4

// Start opens the forwarder's sockets inside namespace ns ("" for this
// process's) and starts forwarding.
func (f *Forwarder) Start(ns string) error {
	err := inNamespace(ns, func() error {
		ln, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(f.Listen))
		if err != nil {
			return err
		}
		f.ln = ln
		for range poolSize {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.Upstream, 0)), net.UDPAddrFromAddrPort(f.Target))
			if err != nil {
				return err
			}
			f.ups = append(f.ups, &upstream{conn: c})
		}
		return nil
	})
	if err != nil {
		f.closeSockets()
		return err
	}
	f.done = make(chan struct{})
	f.up = &pipe{link: newLink(f.Up, f.Seed), q: make(chan packet, maxQueued)}
	f.down = &pipe{link: newLink(f.Down, f.Seed+1), q: make(chan packet, maxQueued)}
	f.wg.Add(3 + len(f.ups))
	go f.deliver(f.up)
	go f.deliver(f.down)
	go f.readClients()
	for _, u := range f.ups {
		go f.readUpstream(u)
	}
	return nil
}

func (f *Forwarder) closeSockets() {
	if f.ln != nil {
		f.ln.Close()
	}
	for _, u := range f.ups {
		u.conn.Close()
	}
}

// Stats returns what crossed each direction so far.
func (f *Forwarder) Stats() (up, down LinkStats) {
	f.up.mu.Lock()
	up = f.up.stats
	f.up.mu.Unlock()
	f.down.mu.Lock()
	down = f.down.stats
	f.down.mu.Unlock()
	return up, down
}

// offer passes a datagram to a direction of the link.
func (p *pipe) offer(data []byte, to func([]byte)) {
	now := time.Now()
	p.mu.Lock()
	v, at := p.link.admit(now, len(data))
	p.stats.Packets++
	p.stats.Bytes += int64(len(data))
	switch v {
	case queueFull:
		p.stats.QueueDrop++
	case lost:
		p.stats.Lost++
		p.stats.WireBytes += int64(len(data) + headerBytes)
	case delivered:
		p.stats.WireBytes += int64(len(data) + headerBytes)
	}
	p.mu.Unlock()
	if v != delivered {
		return
	}
	select {
	case p.q <- packet{at: at, data: data, to: to}:
	default: // beyond maxQueued: the queue was full after all
		p.mu.Lock()
		p.stats.QueueDrop++
		p.mu.Unlock()
	}
}

// deliver hands each packet on at its time. Times never decrease within
// a direction (one transmitter, one delay), so a FIFO is enough.
func (f *Forwarder) deliver(p *pipe) {
	defer f.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var pk packet
		select {
		case pk = <-p.q:
		case <-f.done:
			return
		}
		if d := time.Until(pk.at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-f.done:
				return
			}
		}
		p.mu.Lock()
		p.stats.Delivered++ // before it is sent: whoever sees it has it counted
		p.mu.Unlock()
		pk.to(pk.data)
	}
}

// readClients reads what clients send and passes it up the link.
func (f *Forwarder) readClients() {
	defer f.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := f.ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			if f.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (an ICMP error queued on the socket)
		}
		u := f.upstreamFor(from)
		data := append([]byte(nil), buf[:n]...)
		f.up.offer(data, func(b []byte) { u.conn.Write(b) })
	}
}

// upstreamFor is the socket lent to client, lending one if needed.
func (f *Forwarder) upstreamFor(client netip.AddrPort) *upstream {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pick *upstream
	for _, u := range f.ups {
		if u.client == client {
			u.used = time.Now()
			return u
		}
		if pick == nil || u.used.Before(pick.used) {
			pick = u
		}
	}
	pick.client, pick.used = client, time.Now()
	return pick
}

// readUpstream reads what Target answers on u and passes it down the
// link to the client u is lent to.
func (f *Forwarder) readUpstream(u *upstream) {
	defer f.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := u.conn.Read(buf)
		if err != nil {
			if f.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // Target not listening yet: ICMP port unreachable
		}
		f.mu.Lock()
		client := u.client
		f.mu.Unlock()
		if !client.IsValid() {
			continue
		}
		data := append([]byte(nil), buf[:n]...)
		f.down.offer(data, func(b []byte) { f.ln.WriteToUDPAddrPort(b, client) })
	}
}

// Close stops forwarding and closes the sockets; packets in flight are lost.
func (f *Forwarder) Close() error {
	f.once.Do(func() {
		f.closing.Store(true)
		if f.done != nil {
			close(f.done)
		}
		f.closeSockets()
		f.wg.Wait()
	})
	return nil
}
