// Package netharness runs real processes, one per Linux network namespace,
// on a private bridge, and injects network faults between them: partitions,
// random packet loss and delay. cmd/emcd's fault tests (netfault_test.go)
// use it to run a 4-validator emcd cluster over a faulty network.
//
// # What it needs
//
// Root, the ip (iproute2) and iptables tools (nft or legacy; with
// iptables-restore and the statistic match), and a kernel that lets the
// process create network namespaces, veth pairs and a bridge. Probe checks
// all of that up front and returns an error wrapping ErrUnsupported; tests
// skip on it with the reason. No netem qdisc is needed.
//
// # Topology
//
// New builds, for a Net with id enh<pid><letter>:
//
//   - a bridge <id>b with address 10.213.S.1/24 (S picked among the /24s
//     no interface of the machine uses): the host's foot in the subnet,
//     from which tests reach each node's JSON-RPC;
//   - per node i a namespace <id>n<i> whose eth0 (a veth pair, host side
//     <id>v<i> on the bridge) has 10.213.S.(11+i), and lo up;
//   - a host rule `iptables -I FORWARD -i <id>b -o <id>b -j ACCEPT`:
//     Docker's FORWARD policy is DROP and bridged frames go through
//     iptables (bridge-nf-call-iptables), so without it nodes cannot talk;
//   - in each namespace two chains hooked into INPUT: NHPART (partition
//     drops) and NHLOSS (random loss). Both spare the bridge address.
//
// # Faults
//
//   - Partition(groups...) drops packets between nodes of different groups
//     at the receiving namespace (a silent cut: no RST, TCP just stalls);
//     Isolate(i) cuts one node off; Heal removes partitions.
//   - SetLoss(p) drops each packet a node receives from another node with
//     probability p (`-m statistic --mode random`).
//   - SetDelay(d) delays bytes by d one way in every Relay. Without netem
//     the delay lives in a TCP relay the harness owns, inside each node's
//     namespace: the service listens on the namespace's loopback and
//     announces the relay's address, so all traffic between nodes passes a
//     relay. TCP sees the undelayed round trip (see Relay).
//
// # Processes and cleanup
//
// Start runs a command with `ip netns exec` in its own process group with
// Pdeathsig, logging to a file. Close kills the processes, closes relays,
// removes the FORWARD rule, the veths, the namespaces and the bridge, and
// then checks (Leftovers) that `ip netns list`, `ip link` and `iptables -S
// FORWARD` hold nothing of the Net; it returns ErrLeftover if they do.
// Call it from t.Cleanup, which also runs when a test fails or panics. A
// run killed outright (go test -timeout, SIGKILL) leaves its Net behind:
// New first calls CleanStale, which removes every Net whose pid is gone.
//
// For emcd, ConfigureEmcd rewrites the data dirs `emcd testnet` writes so
// that node i runs in namespace i behind its relay (fixed ports EmcdP2PPort,
// EmcdRelayPort, EmcdRPCPort, EmcdGRPCPort inside each namespace).
//
// Start reading at New, then Partition and Relay.
package netharness
