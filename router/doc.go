// Package router is the home of the smart router role: the node that takes
// open jobs off the chain, keeps a live table of the compute nodes it can
// reach, picks a node for each job and sends the chain its assign(job, node)
// transactions (issue 11).
//
// The subpackages, in reading order:
//
//	scheduler  the pure choice: open jobs + a snapshot of the live table + a seed -> assignments
//	heartbeat  the live table: registered nodes, their signed heartbeats, round-trip times
//	assign     the assignment loop: joins the live table with registry records and
//	           counters into scheduler.Node values, schedules on each head, and
//	           sends assign through the node wallet (node/assigner.go starts it)
//	relay      EMC Hub calls: /apps/<instance>/<path> relayed over libp2p streams
//	           to the node running the instance (computing/instance serves them)
//
// Still to come, in its own package that node/ constructs and starts: the
// result relay that serves outputs to submitters. They talk to the
// network through the p2p interfaces and read time from a clock passed in;
// only the scheduler decides, and it decides the same way on every machine.
package router
