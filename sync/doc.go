// Package sync replicates a network's entries between nodes. Two paths
// share one validation function (the node's): push, where new entries are
// published on a GossipSub topic of the network, and pull, where two nodes
// reconcile the sets of entries they hold with range-based set
// reconciliation, exchanging bytes in proportion to the difference.
//
// The reconciliation itself (index.go, recon.go) is pure: no network, no
// clock. The libp2p transport (stream.go, gossip.go) drives it. Where no
// network goes, bundles carry the same entry frames in a sealed file
// (bundle.go), and a summary of each device's chain (summary.go) says
// what the other side lacks in one round trip of the file.
package sync
