package agent

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Re-executions: the jobs module draws this node to re-run another node's
// deterministic job (sampled, or disputed by its submitter) and waits for
// its output digest through submitReexec before a deadline. The hooks that
// draw emit no logs, so the driver reads the node's reexecsOf list at each
// head (Head.Reexecs). A re-execution is held as an Entry with Attempt 0:
//
//	drawn, fits (GPUs free,       reexecuting: the executor runs the job
//	image held, time left)        (RunID ReexecRunID)
//	run ended with a digest       reexec-reporting: submitReexec(id, digest)
//	                              sent, retried like a result
//	gone from reexecsOf           forgotten (answered, or timed out)

// reexecKey is the declined-map key of a re-execution: attempt 0, which no
// assignment has.
func reexecKey(id uint64) attemptKey { return attemptKey{id: id} }

// stepReexecs follows the node's pending re-executions at head h; keep
// collects the declined keys still wanted. It returns the actions and the
// re-executions seen.
func (c *Core) stepReexecs(h Head, keep map[attemptKey]bool) ([]Action, map[uint64]bool) {
	var out []Action
	seen := make(map[uint64]bool, len(h.Reexecs))
	for i := range h.Reexecs {
		r := &h.Reexecs[i]
		seen[r.ID] = true
		k := reexecKey(r.ID)
		keep[k] = true
		if e, ok := c.entries[r.ID]; ok {
			if e.Phase.reexec() {
				out = append(out, c.followReexec(h, e, r)...)
			}
			continue // held as its provider: cannot be (the module never draws it)
		}
		if c.declined[k] {
			continue
		}
		reason, wait := c.fitReexec(h, r)
		if wait {
			continue // GPUs or slots busy now: looked at again next head
		}
		if reason != "" {
			if len(c.declined) < maxDeclined {
				c.declined[k] = true
			}
			c.counts.ReexecAbandoned++
			c.dropped = append(c.dropped, Drop{ID: r.ID, Phase: PhaseReexec, Reason: "re-execution declined: " + reason})
			continue
		}
		e := &Entry{ID: r.ID, Phase: PhaseReexec, GPUs: r.GPUs, TimeoutSeconds: r.TimeoutSeconds}
		c.entries[r.ID] = e
		out = append(out, c.startReexec(h, e)...)
	}
	return out, seen
}

// fitReexec says why the node cannot re-execute r now ("" when it can);
// wait when the reason may pass before the deadline.
func (c *Core) fitReexec(h Head, r *ChainReexec) (reason string, wait bool) {
	switch {
	case h.Time+r.TimeoutSeconds >= r.Deadline:
		return "too little time left before the re-execution deadline", false
	case !r.ImageHeld:
		return "image not held", false
	case r.GPUs > c.cfg.GPUs:
		return fmt.Sprintf("%d GPUs asked, the node has %d", r.GPUs, c.cfg.GPUs), false
	case len(c.entries) >= MaxJobs:
		return "too many jobs held", true
	case uint64(c.UsedGPUs())+uint64(r.GPUs) > uint64(c.cfg.GPUs):
		return "GPUs busy", true
	}
	return "", false
}

func (c *Core) startReexec(h Head, e *Entry) []Action {
	c.token++
	e.Phase, e.runBusy, e.runToken, e.StartedMs, e.tries = PhaseReexec, true, c.token, h.NowMs, 0
	c.dirty = true
	return []Action{{Kind: ActReexec, Entry: *e, Token: e.runToken}}
}

// followReexec moves a held re-execution on at head h.
func (c *Core) followReexec(h Head, e *Entry, r *ChainReexec) []Action {
	if h.Time >= r.Deadline {
		return c.dropReexec(e, "re-execution deadline passed")
	}
	switch e.Phase {
	case PhaseReexec:
		if !e.runBusy { // after a restart: run again if the whole timeout fits
			if h.Time+r.TimeoutSeconds >= r.Deadline {
				return c.dropReexec(e, "too little time left before the re-execution deadline")
			}
			return c.startReexec(h, e)
		}
	case PhaseReexecReporting:
		return c.retry(h, e, ActSubmitReexec)
	}
	return nil
}

// reexecDone handles the end of a re-execution run: its digest is sent; a
// run that could not run or gave no digest is dropped (the chain times the
// node out rather than take a digest of a run that did not happen).
func (c *Core) reexecDone(e *Entry, o RunOutcome) []Action {
	if o.Err != nil || o.Digest == (common.Hash{}) {
		return c.dropReexec(e, fmt.Sprintf("re-execution gave no digest: %v", o.Err))
	}
	e.Phase, e.Record, e.Exit, e.Digest = PhaseReexecReporting, o.Record, o.Exit, o.Digest
	e.tries = 0
	c.dirty = true
	return c.sendTx(e, ActSubmitReexec)
}

// reexecGone handles a held re-execution that left the node's pending list:
// its digest was taken (counted) or its deadline passed on chain.
func (c *Core) reexecGone(e *Entry) []Action {
	if e.Phase == PhaseReexecReporting && (e.mined || e.txBusy) {
		// Taken (txBusy: mined, but the handle has not said so yet).
		c.counts.Reexecuted++
		delete(c.entries, e.ID)
		c.dirty = true
		return nil
	}
	return c.dropReexec(e, "no longer waiting for this node")
}

func (c *Core) dropReexec(e *Entry, reason string) []Action {
	var out []Action
	if e.runBusy {
		out = append(out, Action{Kind: ActKill, Entry: *e, Token: e.runToken})
	}
	c.counts.ReexecAbandoned++
	c.dropped = append(c.dropped, Drop{ID: e.ID, Phase: e.Phase, Reason: reason})
	if len(c.declined) < maxDeclined {
		c.declined[reexecKey(e.ID)] = true
	}
	delete(c.entries, e.ID)
	c.dirty = true
	return out
}
