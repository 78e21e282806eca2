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
// SneakernetScenario is the other scenario on loopback (`make testnet
// SCENARIO=sneakernet`, no root): once the network has settled and every
// node holds the network secret, a region is cut off entirely — its nodes
// connect only to each other, and every observation checks that no node
// of one region is connected to a node of the other (Scenario.Isolated).
// The regions then sync only through couriers (StepExchange) on a seeded
// schedule, with the real bundle path (the Courier methods: `murmur bundle
// summary/export/import` on the data directories with processes, the node
// API in process): one node's summary goes out, the answer (export --for
// the summary, sometimes --split, its parts imported in a shuffled order)
// comes back, and the reply (export --for the bundle received, or --org)
// goes out. Some couriers are lost on the way, some bundles are imported
// again (StepReplay: nothing new may be stored). The last trip arrives;
// every node must then hold the same entries, and the report lists every
// file carried with its size and entry count.
//
// Subpackage netns plays the network scenarios (lan, exile, satellite,
// restart) with each node in a Linux network namespace of its own, behind
// NAT routers, shaped and lossy links and a userspace satellite link:
// `make testnet SCENARIO=NAME`, as root.
//
// The package owns the harness only: nodes are driven through the node
// package and the murmur command, exactly as people and scripts drive them.
package testnet
