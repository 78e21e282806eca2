// Package netns plays Murmur's network scenarios in Linux network
// namespaces: every node is a real `murmur run` process in a namespace of
// its own, and routers between them forward, masquerade (nftables), shape
// (tc tbf) and drop at random (iptables statistic). The kernel has no
// netem, so a satellite link is a UDP forwarder in this package (Forwarder)
// that adds delay, a rate with a bounded queue, and loss to QUIC.
//
// Scenarios (Names, Run): lan, exile, satellite, restart. Each makes its
// namespaces (named Prefix, the process ID, a sequence number, a name),
// uses addresses from 198.18.0.0/15 only, and removes everything at the
// end, and also whatever an earlier run whose process has gone left
// behind. It needs root and the ip, tc, nft and iptables commands.
package netns
