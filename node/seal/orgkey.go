package seal

import "github.com/murmurnet/murmur/crdt"

// OrgKeyAD is the associated data of an organisation's keys wrapped for
// one of its devices in an org-key entry: the network, the organisation,
// the public key they are handed under, and the device.
func OrgKeyAD(network crdt.ID, org crdt.OrgID, public [32]byte, device crdt.DeviceKey) []byte {
	b := []byte("murmur-orgkey-v1\n")
	b = append(b, network[:]...)
	b = append(b, org[:]...)
	b = append(b, public[:]...)
	return append(b, device[:]...)
}
