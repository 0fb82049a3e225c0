// Package docker holds the operators' container and monitoring files and
// the tests that keep them working; it has no Go API.
//
//   - Dockerfile and build-image.sh: the emcd:dev image (make image), a
//     static emcd binary FROM scratch (no base image, no network during the
//     build). NVML is dlopen'ed at run time; in the image it is absent and
//     the node reports "no NVIDIA driver".
//   - devnet/: make devnet starts 4 validators, 1 router and 2 compute nodes
//     (simulated GPUs, process executor) as containers on their own bridge
//     network, one IP each, from `emcd testnet --ip-base`; it waits until
//     every node reports the same block hash, then prints the endpoints.
//     make devnet-down removes the containers, network and data dir.
//   - prometheus/: a scrape config for the devnet, recording rules and
//     alerting rules, checked by promtool in the tests.
//   - grafana/emcd.json: a dashboard whose every query names a metric a
//     node exposes or a recording rule defines (checked by a test).
//
// Metric conventions (checked with promtool check metrics on every role):
// names are emcd_<subsystem>_<name>_<unit>, counters end in _total, every
// metric has help text. The only exceptions are the GPU labels UUID and
// modelName, spelled as dcgm-exporter spells them so that GPU dashboards
// made for it work.
//
// The tests that need Docker or promtool skip with the reason when the tool
// is missing (.ci/run installs promtool from the prometheus package), and
// the multi-process ones skip under -short.
package docker
