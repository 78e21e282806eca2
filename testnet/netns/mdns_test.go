//go:build linux

package netns

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/testnet"
)

// What a node tells the LAN. A node of a private network runs with mDNS on
// (the default) in one namespace; another namespace on the same link
// listens on the mDNS multicast group and keeps every packet it hears
// until the node's announcement (its addresses, "dnsaddr=...") has come.
// None of them names the network (its ID, or the part of it the service
// name used to carry, or the name that part gives), the organisation, the
// network's name, or Murmur.
func TestMDNSAnnouncementNamesNothing(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lab, err := NewLab(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	laptop, err1 := lab.Namespace(ctx, "laptop")
	cafe, err2 := lab.Namespace(ctx, "cafe")
	if err := errors.Join(err1, err2,
		lab.Link(ctx, laptop, "wlan0", pfx("198.18.30.2/24"), cafe, "wlan0", pfx("198.18.30.3/24"))); err != nil {
		t.Fatal(err)
	}

	const org, netName = "Alpha Fund Kampala", "East Africa protection network"
	dir := filepath.Join(t.TempDir(), "laptop")
	n, err := node.Init(ctx, dir, node.InitOptions{Org: org, Network: netName, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	netID := n.Network()
	n.Close()

	// The café's listener, on the mDNS group.
	var c *net.UDPConn
	if err := inNamespace(cafe.Full, func() error {
		ifi, err := net.InterfaceByName("wlan0")
		if err != nil {
			return err
		}
		c, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cmd := exec.Command("ip", "netns", "exec", laptop.Full, murmur(t), "run", "--dir", dir, "--listen", "/ip4/198.18.30.2/tcp/4721")
	cmd.Env = testnet.CleanEnv()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("the node's log:\n%s", stderr.String())
		}
	}()

	var heard [][]byte
	announced := false
	buf := make([]byte, 9000)
	deadline := time.Now().Add(90 * time.Second)
	for !announced && time.Now().Before(deadline) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue // (a quiet spell: read again until the deadline)
		}
		if from.Addr().String() != "198.18.30.2" {
			continue
		}
		p := append([]byte(nil), buf[:k]...)
		heard = append(heard, p)
		announced = bytes.Contains(p, []byte("dnsaddr="))
	}
	if !announced {
		t.Fatalf("no mDNS announcement heard from the node within 90 s (%d packets)", len(heard))
	}
	secrets := []string{netID.String(), hex.EncodeToString(netID[:8]), org, netName, "murmur"}
	// Nor the service name that the network's ID alone gives (the ID is in
	// clear in murmur.json: an imaged disk holds it): on a private network
	// the name is keyed with the network key, which the disk holds sealed.
	for _, d := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		day := time.Now().Add(d).Unix() / (24 * 60 * 60)
		m := hmac.New(sha256.New, netID[:16])
		fmt.Fprintf(m, "murmur lan v2\n%d", day)
		secrets = append(secrets, hex.EncodeToString(m.Sum(nil)[:7]))
	}
	for i, p := range heard {
		low := bytes.ToLower(p)
		for _, s := range secrets {
			if bytes.Contains(low, bytes.ToLower([]byte(s))) {
				t.Errorf("packet %d of %d the café heard holds %q", i+1, len(heard), s)
			}
		}
	}
	t.Logf("the café heard %d mDNS packets from the node, %d bytes in the last (the announcement)", len(heard), len(heard[len(heard)-1]))
}
