//go:build unix

package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// diskCollector exports the size and free space of the filesystem holding
// the data dir, read at scrape time (operators alert on a filling disk).
type diskCollector struct {
	path        string
	avail, size *prometheus.Desc
}

func (n *Node) registerDiskMetrics(reg prometheus.Registerer) {
	if n.cfg.DataDir == nil {
		return
	}
	reg.MustRegister(&diskCollector{
		path: n.cfg.DataDir.Path,
		avail: prometheus.NewDesc("emcd_datadir_filesystem_avail_bytes",
			"Bytes available to emcd on the filesystem holding the data dir.", nil, nil),
		size: prometheus.NewDesc("emcd_datadir_filesystem_size_bytes",
			"Size of the filesystem holding the data dir.", nil, nil),
	})
}

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.avail; ch <- c.size }

func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	var st unix.Statfs_t
	if err := unix.Statfs(c.path, &st); err != nil {
		return // the scrape shows the gauges missing; the alert on absence fires
	}
	bs := float64(st.Bsize)
	ch <- prometheus.MustNewConstMetric(c.avail, prometheus.GaugeValue, float64(st.Bavail)*bs)
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(st.Blocks)*bs)
}
