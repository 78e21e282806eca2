package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

type fakeNode struct{ st node.StatusInfo }

func (f fakeNode) Status() node.StatusInfo { return f.st }
func (f fakeNode) PeerMember(p peer.ID) (string, string, bool) {
	if p == "member" {
		return "org-connected", "device-member", true
	}
	return "", "", false
}

type fakeRunner struct{ c p2p.Counters }

func (f fakeRunner) Peers() []peer.ID            { return []peer.ID{"member", "stranger"} }
func (f fakeRunner) GossipPeers() []peer.ID      { return []peer.ID{"member"} }
func (f fakeRunner) Counters() p2p.Counters      { return f.c }
func (f fakeRunner) Scores() map[peer.ID]float64 { return map[peer.ID]float64{"member": -150} }

// Every series is there, with the values it is read from: members
// connected (not strangers), time since contact (0 connected, +Inf never),
// drops by reason, sessions by who started them and how they ended.
func TestMetricsSayWhatTheNodeCounted(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	hourAgo := now.Add(-time.Hour)
	st := node.StatusInfo{Entries: 42, Waiting: 3, Held: 1, Contacts: []node.ContactInfo{
		{Org: "org-connected"}, {Org: "org-an-hour", LastSynced: &hourAgo}, {Org: "org-never"}}}
	var c p2p.Counters
	c.Written, c.ReceivedGossip, c.ReceivedSync, c.Delivered = 5, 6, 7, 8
	c.Dropped[p2p.DropRate] = 9
	c.Dropped[p2p.DropWaiting] = 4
	c.Sessions[1][0] = 2 // started here, failed
	c.Rounds, c.SentBytes, c.ReceivedBytes = 11, 1200, 3400
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = Handler(fakeNode{st}, fakeRunner{c}, func() time.Time { return now }, srv.Listener.Addr().String())
	srv.Start()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := string(b)
	for _, want := range []string{
		"murmur_peers_connected 1\n",
		`murmur_entries{status="accepted"} 42` + "\n",
		`murmur_entries{status="waiting"} 3` + "\n",
		`murmur_entries{status="held"} 1` + "\n",
		"murmur_entries_written_total 5\n",
		`murmur_entries_received_total{path="gossip"} 6` + "\n",
		`murmur_entries_received_total{path="sync"} 7` + "\n",
		"murmur_gossip_delivered_total 8\n",
		`murmur_gossip_dropped_total{reason="rate"} 9` + "\n",
		`murmur_gossip_dropped_total{reason="invalid"} 0` + "\n",
		"murmur_gossip_waiting_total 4\n",
		`murmur_sync_sessions_total{result="failed",started="here"} 2` + "\n",
		"murmur_sync_rounds_total 11\n",
		`murmur_sync_bytes_total{direction="sent"} 1200` + "\n",
		`murmur_sync_bytes_total{direction="received"} 3400` + "\n",
		`murmur_gossip_peer_score{device="device-member"} -150` + "\n",
		`murmur_member_seconds_since_contact{org="org-connected"} 0` + "\n",
		`murmur_member_seconds_since_contact{org="org-an-hour"} 3600` + "\n",
		`murmur_member_seconds_since_contact{org="org-never"} +Inf` + "\n",
		"go_goroutines ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the metrics lack %q", want)
		}
	}
	if strings.Contains(got, `reason="waiting"`) {
		t.Error("entries kept while they wait are counted as dropped")
	}
	if t.Failed() {
		t.Log(got)
	}
}

// A request naming another host (a page whose name was rebound to this
// computer) is refused; localhost with the port is served.
func TestMetricsRefuseAnotherHost(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	at := srv.Listener.Addr().String()
	srv.Config.Handler = Handler(fakeNode{}, fakeRunner{}, time.Now, at)
	srv.Start()
	defer srv.Close()
	_, port, _ := strings.Cut(at, ":")
	for host, want := range map[string]int{at: 200, "localhost:" + port: 200, "attacker.example:" + port: 421, "attacker.example": 421, "127.0.0.1:1": 421} {
		req := httptest.NewRequest("GET", srv.URL+"/metrics", nil)
		req.RequestURI = ""
		req.Host = host
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
