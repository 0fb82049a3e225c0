// Package sim is a deterministic simulator (a VOPR, after TigerBeetle) for
// the IBFT core: one seed picks the cluster size, byzantine validators,
// message loss, delay, duplication and reordering, partitions that heal,
// crashes with restart from the WAL (including a WAL that tears on its Nth
// append), and runs real ibft.Core instances over an in-memory network on a
// logical clock.
//
// Checked at every step: agreement (no two honest validators commit
// different blocks at one height), validity (only blocks the application
// accepted are committed), every commit certificate verifies with
// cert.Certificate.Verify, no honest validator ever signs two different
// messages of one kind for one view (across restarts: the WAL works), no
// honest message is ever rejected as faulty, every piece of equivocation
// evidence a core reports verifies and names a byzantine validator, and
// the parent certificate a proposer would carry (the decision grown by late
// COMMITs) verifies with at most one seal per validator. After the faulty phase a random
// core of at least a quorum of honest validators gets a clean network and
// must commit new heights in bounded time (TigerBeetle's liveness mode).
//
// Start reading at Run. Tests run many seeds; a failure prints SEED=<n>,
// and `go test ./consensus/sim -run TestSimulation -seed=<n> -v` (or
// `emcsim -seed <n> -trace`) replays it exactly.
package sim
