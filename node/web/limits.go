package web

import (
	"net"
	"net/netip"
	gosync "sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits on what strangers can hold of the interface: a listener that
// bounds connections (by address and in all), and passphrase attempts
// rationed by address, so that a guesser on the network neither uses up
// the node's file descriptors nor locks the person at the keyboard out.

const (
	maxConnsPerAddr = 16
	maxConns        = 128
	// maxSessions and maxFeeds bound what unlocked sessions hold: the
	// least recently used session is dropped beyond maxSessions, and a
	// live feed beyond maxFeeds is refused (the page still works, without
	// live updates).
	maxSessions = 32
	maxFeeds    = 32
)

// LimitConnections is l, closing at once a connection beyond
// maxConnsPerAddr from one address, or beyond maxConns in all.
func LimitConnections(l net.Listener) net.Listener {
	return &limitedListener{Listener: l, byAddr: map[netip.Addr]int{}}
}

type limitedListener struct {
	net.Listener
	mu     gosync.Mutex
	byAddr map[netip.Addr]int
	all    int
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := remoteAddr(c)
		l.mu.Lock()
		// This computer's own connections are not counted in all, so that
		// strangers holding every connection cannot lock out the person
		// at the keyboard.
		ok := (a.IsLoopback() || l.all < maxConns) && l.byAddr[a] < maxConnsPerAddr
		if ok {
			if !a.IsLoopback() {
				l.all++
			}
			l.byAddr[a]++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, addr: a}, nil
	}
}

type limitedConn struct {
	net.Conn
	l    *limitedListener
	addr netip.Addr
	once gosync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if !c.addr.IsLoopback() {
			c.l.all--
		}
		if c.l.byAddr[c.addr]--; c.l.byAddr[c.addr] <= 0 {
			delete(c.l.byAddr, c.addr)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// guessers rations passphrase attempts by the address they come from:
// five at once, then one every 3 s, each address apart. Addresses not
// seen for an hour are forgotten; at most maxGuessers are remembered, and
// beyond that strangers share one ration (the person at this computer, on
// loopback, always has one of their own).
type guessers struct {
	mu   gosync.Mutex
	by   map[netip.Addr]*guesser
	rest *rate.Limiter
	now  func() time.Time
}

type guesser struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxGuessers = 4096

func newGuessers(now func() time.Time) *guessers {
	return &guessers{by: map[netip.Addr]*guesser{}, rest: newGuessLimiter(), now: now}
}

func newGuessLimiter() *rate.Limiter { return rate.NewLimiter(rate.Every(3*time.Second), 5) }

// allow says whether an attempt from addr may be tried now. An IPv6
// address counts by its /64: one machine can hold a whole prefix.
func (g *guessers) allow(addr netip.Addr) bool {
	if addr.Is6() && !addr.IsLoopback() {
		if p, err := addr.Prefix(64); err == nil {
			addr = p.Addr()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	x := g.by[addr]
	if x == nil {
		if len(g.by) >= maxGuessers {
			for a, y := range g.by {
				if now.Sub(y.seen) > time.Hour {
					delete(g.by, a)
				}
			}
		}
		if len(g.by) >= maxGuessers && !addr.IsLoopback() {
			return g.rest.AllowN(now, 1)
		}
		x = &guesser{lim: newGuessLimiter()}
		g.by[addr] = x
	}
	x.seen = now
	return x.lim.AllowN(now, 1)
}
