package node

import "github.com/murmurnet/murmur/crdt"

// Has reports whether the entry is accepted here. It is one map lookup
// under the node's lock — unlike Status, which hashes every accepted ID —
// so a harness can watch entries spread to many nodes without slowing them.
func (n *Node) Has(id crdt.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	st, ok := n.state.Has(id)
	return ok && st == crdt.StatusAccepted
}
