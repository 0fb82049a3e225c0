package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/staking/rewards"
)

// stateCollector exports gauges read from the head state at scrape time:
// the jobs module's counts and the rewards module's latest settlement.
// Every scrape opens its own StateDB (a StateDB is not goroutine safe),
// reads a handful of slots, and drops it.
type stateCollector struct {
	n *Node

	jobsCreated, jobsWaiting               *prometheus.Desc
	rewardsEpoch, rewardsPaid, rewardsOwed *prometheus.Desc
	readErrors                             prometheus.Counter
}

func (n *Node) registerStateMetrics(reg prometheus.Registerer) {
	c := &stateCollector{
		n: n,
		jobsCreated: prometheus.NewDesc("emcd_jobs_created_total",
			"Jobs ever submitted on chain (at the head).", nil, nil),
		jobsWaiting: prometheus.NewDesc("emcd_jobs_waiting",
			"Jobs at the head waiting for a router (state submitted) or for their node to accept (state assigned).", []string{"state"}, nil),
		rewardsEpoch: prometheus.NewDesc("emcd_rewards_next_settle_epoch",
			"Next reward epoch whose node reward settles (at the head; every earlier one has).", nil, nil),
		rewardsPaid: prometheus.NewDesc("emcd_rewards_last_epoch_paid_wei",
			"Node rewards the last settled reward epoch distributed, in wei (emission plus carried dust; 0 before the first).", nil, nil),
		rewardsOwed: prometheus.NewDesc("emcd_rewards_accrued_unclaimed_wei",
			"Node rewards accrued to owners and not claimed yet, in wei (at the head).", nil, nil),
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "emcd_metrics_state_read_errors_total",
			Help: "Scrapes that could not open the head state for the chain-state gauges."}),
	}
	reg.MustRegister(c, c.readErrors)
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobsCreated, c.jobsWaiting, c.rewardsEpoch, c.rewardsPaid, c.rewardsOwed} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	jm, rm := c.n.mods.jobs(), c.n.mods.rewards()
	if jm == nil && rm == nil {
		return
	}
	st, err := c.n.chain.StateAt(c.n.chain.Head().Root)
	if err != nil {
		c.readErrors.Inc()
		c.n.log.Debug("metrics: head state", "err", err)
		return
	}
	if jm != nil {
		ch <- prometheus.MustNewConstMetric(c.jobsCreated, prometheus.CounterValue, float64(jobs.JobCount(st)))
		submitted, assigned := jobs.Waiting(st)
		ch <- prometheus.MustNewConstMetric(c.jobsWaiting, prometheus.GaugeValue, float64(submitted), jobs.StateSubmitted.String())
		ch <- prometheus.MustNewConstMetric(c.jobsWaiting, prometheus.GaugeValue, float64(assigned), jobs.StateAssigned.String())
	}
	if rm != nil {
		_, paid, _ := rewards.LastSettlement(st) // zero before the first
		ch <- prometheus.MustNewConstMetric(c.rewardsEpoch, prometheus.GaugeValue, float64(rewards.NextSettle(st)))
		ch <- prometheus.MustNewConstMetric(c.rewardsPaid, prometheus.GaugeValue, paid.Float64())
		ch <- prometheus.MustNewConstMetric(c.rewardsOwed, prometheus.GaugeValue, rewards.AccruedTotal(st).Float64())
	}
}

var _ prometheus.Collector = (*stateCollector)(nil)
