// Package runfile is what a running node says of itself in run.json, for
// `murmur status` and `murmur wipe` in another process: the values the
// peer-to-peer runtime (node/p2p) writes and the application core (node)
// reads. node seals, writes and reads the file; this package only names
// what is in it, so that neither of the two has to import the other.
package runfile

import (
	"time"

	msync "github.com/murmurnet/murmur/sync"
)

// Info is what a running node says of itself.
type Info struct {
	PID   int      `json:"pid"`
	Peer  string   `json:"peer"`
	Addrs []string `json:"addrs"`
	Peers []string `json:"peers"`
	// PeerAddrs: where the connected peers were reached (with /p2p/ID),
	// for a wipe that sends its revocation after stopping this node.
	PeerAddrs []string   `json:"peer_addrs"`
	Traffic   Traffic    `json:"traffic"`
	NAT       *NATStatus `json:"nat,omitempty"`
	Updated   time.Time  `json:"updated"`
	// Contacts: the member devices' nodes reached in this run, and when
	// last (the store has them too, written less often).
	Contacts []Contact `json:"contacts,omitempty"`
	// AloneSince: no member's node has been connected since then, for
	// longer than the runner's AloneAfter.
	AloneSince *time.Time `json:"alone_since,omitempty"`
}

// Traffic is what a running node has exchanged so far.
type Traffic struct {
	Sync       msync.Stats `json:"sync"`        // reconciliation: sessions' totals
	GossipSent int64       `json:"gossip_sent"` // bytes of pubsub RPCs
	GossipRecv int64       `json:"gossip_recv"`
}

// Reachability says whether other members' nodes can open a connection to
// this node.
type Reachability string

const (
	ReachUnknown   Reachability = "unknown"    // no member has said yet
	ReachPublic    Reachability = "reachable"  // a member dialled back, or --relay/--announce says so
	ReachBehindNAT Reachability = "behind NAT" // members tried, and could not
)

// NATStatus is what a running node knows of its paths through NAT.
type NATStatus struct {
	Reachability Reachability `json:"reachability"`
	Confirmed    []string     `json:"confirmed_addrs,omitempty"`
	Relays       []string     `json:"relays,omitempty"`      // member relays known
	Reserved     []string     `json:"reserved_on,omitempty"` // relays holding a reservation for this node
	Relaying     bool         `json:"relaying,omitempty"`    // this node relays for members
}

// Contact is a member device's node reached in this run, and when last.
type Contact struct {
	Device string    `json:"device"`
	Last   time.Time `json:"last"`
	Via    string    `json:"via"`
}
