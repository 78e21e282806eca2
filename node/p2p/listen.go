package p2p

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"

	ma "github.com/multiformats/go-multiaddr"
)

// Before the host starts, every listen address with a fixed port is tried
// with a plain socket. go-libp2p binds its TCP listeners with SO_REUSEPORT
// (so that outgoing connections can leave from the listening port, which
// hole punching needs), and two sockets that both set it share a port: two
// Murmur nodes on one machine would both "listen" on 4721 and split the
// incoming connections of two different networks between them, silently.
// A plain socket, which does not set SO_REUSEPORT, cannot bind a port that
// any other socket holds, so the probe finds the other node (or any other
// program) first. Two nodes started in the same instant can still both
// pass the probe; the window is the few milliseconds before the host binds.

// listenProblem says in plain words why addr cannot be listened on; nil if
// it can (or if its port is chosen by the system, or it names no IP).
func listenProblem(addr string) error {
	if err := listenForm(addr); err != nil {
		return err
	}
	network, hostport, port, ok := probeArgs(addr)
	if !ok {
		return nil
	}
	err := tryBind(network, hostport)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("cannot listen on %s: port %d is already in use on this machine, perhaps by another Murmur node: choose another port with --listen (nothing was started)", addr, port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		ip, _, _ := net.SplitHostPort(hostport)
		return fmt.Errorf("cannot listen on %s: this machine has no address %s (check --listen; nothing was started)", addr, ip)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: port %d needs administrator rights; choose a port above 1023 (nothing was started)", addr, port)
	}
	return fmt.Errorf("cannot listen on %s: %v (nothing was started)", addr, err)
}

// listenForm refuses an address the node's transports cannot listen on
// (go-libp2p would fail too, after starting goroutines it does not stop).
func listenForm(addr string) error {
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: it is not an address like /ip4/0.0.0.0/tcp/%d (nothing was started)", addr, DefaultPort)
	}
	var codes []int
	for _, c := range a {
		codes = append(codes, c.Protocol().Code)
	}
	host := len(codes) > 0 && slices.Contains([]int{ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6}, codes[0])
	if host && (slices.Equal(codes[1:], []int{ma.P_TCP}) || slices.Equal(codes[1:], []int{ma.P_UDP, ma.P_QUIC_V1})) {
		return nil
	}
	return fmt.Errorf("cannot listen on %s: a node listens on TCP (/ip4/0.0.0.0/tcp/%d) or QUIC (/ip4/0.0.0.0/udp/%d/quic-v1) addresses only (nothing was started)", addr, DefaultPort, DefaultPort)
}

// probeArgs turns a listen multiaddr into what net.Listen or
// net.ListenPacket takes. ok is false for a port 0, a DNS name or a
// transport the probe does not know.
func probeArgs(addr string) (network, hostport string, port int, ok bool) {
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		return "", "", 0, false
	}
	family := "4"
	ip, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		if ip, err = a.ValueForProtocol(ma.P_IP6); err != nil {
			return "", "", 0, false
		}
		family = "6"
	}
	for _, t := range []struct {
		code int
		name string
	}{{ma.P_TCP, "tcp"}, {ma.P_UDP, "udp"}} {
		if v, err := a.ValueForProtocol(t.code); err == nil {
			p, err := strconv.Atoi(v)
			if err != nil || p == 0 {
				return "", "", 0, false
			}
			return t.name + family, net.JoinHostPort(ip, v), p, true
		}
	}
	return "", "", 0, false
}

// chooseListen checks the listen addresses before the host binds them.
// Addresses the user chose must all be usable: a port another program
// holds is refused, not shared. The default addresses (fromDefault) move
// together to the next port from port+1 up that is free on all of them,
// else to ports the system picks; log says so. A default address this
// machine cannot have (IPv6 on a machine without it) is left to the
// host, which listens on those it can.
func chooseListen(listen []string, fromDefault bool, port int, log *slog.Logger) ([]string, error) {
	inUse := false
	for _, a := range listen {
		err := listenProblem(a)
		if err == nil {
			continue
		}
		if !fromDefault {
			return nil, err
		}
		if _, _, p, _ := probeArgs(a); p == port && portTaken(a) {
			inUse = true
		}
	}
	if !inUse {
		return listen, nil
	}
	const tries = 9
	for next := port + 1; next <= port+tries; next++ {
		moved := withPort(listen, port, next)
		if allFree(moved) {
			log.Info(fmt.Sprintf("port %d is already in use on this machine, perhaps by another Murmur node: listening on port %d instead (members' nodes learn the new address when they next meet this one)", port, next))
			return moved, nil
		}
	}
	log.Info(fmt.Sprintf("ports %d to %d are in use on this machine: listening on ports the system chose", port, port+tries))
	return withPort(listen, port, 0), nil
}

// portTaken reports whether addr's port is held by another socket.
func portTaken(addr string) bool {
	network, hostport, _, ok := probeArgs(addr)
	return ok && errors.Is(tryBind(network, hostport), syscall.EADDRINUSE)
}

// tryBind binds a plain socket (no SO_REUSEPORT) and closes it.
func tryBind(network, hostport string) error {
	if strings.HasPrefix(network, "tcp") {
		l, err := net.Listen(network, hostport)
		if err == nil {
			l.Close()
		}
		return err
	}
	c, err := net.ListenPacket(network, hostport)
	if err == nil {
		c.Close()
	}
	return err
}

// allFree: no address's port is held by another socket.
func allFree(listen []string) bool {
	for _, a := range listen {
		if portTaken(a) {
			return false
		}
	}
	return true
}

// withPort replaces port from by to in every address that has it.
func withPort(listen []string, from, to int) []string {
	out := make([]string, len(listen))
	for i, a := range listen {
		out[i] = a
		for _, proto := range []string{"/tcp/", "/udp/"} {
			old := proto + strconv.Itoa(from)
			if j := strings.Index(a, old); j >= 0 && (j+len(old) == len(a) || a[j+len(old)] == '/') {
				out[i] = a[:j] + proto + strconv.Itoa(to) + a[j+len(old):]
				break
			}
		}
	}
	return out
}
