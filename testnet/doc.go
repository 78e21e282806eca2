// Package testnet runs a network of Murmur nodes through a scenario — writes
// on any node, partitions and heals, crashes and restarts, live-path drops
// and duplicate deliveries — and reports whether every node ended with the
// same entries, how long that took after the last heal, and what each node
// sent.
//
// A Scenario is a seeded schedule of Steps (DefaultScenario derives one
// from a seed). Run plays it on a Driver; two drivers realise the same
// steps:
//
//   - InProcess: nodes in this process on go-libp2p's mock network, each
//     with its own data directory. Fast; used by the tests and Bench.
//   - Procs: real `murmur run` processes on loopback, written to with
//     `murmur request new` and read with `murmur status --json`, killed
//     with SIGKILL. What `make testnet` runs.
//
// Subpackage netns plays the network scenarios (lan, exile, satellite,
// restart) with each node in a Linux network namespace of its own, behind
// NAT routers, shaped and lossy links and a userspace satellite link:
// `make testnet SCENARIO=NAME`, as root.
//
// The package owns the harness only: nodes are driven through the node
// package and the murmur command, exactly as people and scripts drive them.
package testnet
