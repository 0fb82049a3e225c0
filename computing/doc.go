// Package computing is the home of a compute node's local runtime: what the
// node knows about its GPUs and how it runs one job, and (agent) the loop
// that takes jobs from the chain and reports their results.
//
// The subpackages, in reading order:
//
//	job        the job spec, the result record and their canonical JSON (RFC 8785) and hashes
//	gpu        GPU inventory behind Provider (NVML or simulated) and exclusive allocation by UUID
//	telemetry  periodic GPU and host samples, a snapshot API and Prometheus gauges emcd_gpu_*
//	executor   runs a job spec: Docker (isolated) or a child process (development only)
//	results    content-addressed store for result records and output files under DATADIR/compute
//	results/fetch  results to the submitter: served by the node over libp2p, relayed and verified by a router
//	instance   EMC Hub app instances (long-running containers) and the node side of the app relay protocol
//	agent      the job agent: accepts the jobs assigned on chain, runs them, reports their results
//	pow        proof-of-work challenges: the seeded int8 GEMM workload, its row commitment, sampling and CPU check
//	apps       the EMC Hub's chain module: apps, instances, leases, co-signed usage receipts and their settlement
package computing
