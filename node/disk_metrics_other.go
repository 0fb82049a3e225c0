//go:build !unix

package node

import "github.com/prometheus/client_golang/prometheus"

// registerDiskMetrics: the data dir's filesystem gauges read statfs(2),
// which this OS lacks; none are exported here.
func (n *Node) registerDiskMetrics(prometheus.Registerer) {}
