package scheduler

// TestRounds drives the scheduler the way the router's loop will: in
// rounds (one per block), each with the open jobs oldest first, a snapshot
// of the nodes as their heartbeats would report them and the block's seed.
// Jobs run for a few rounds and then free their GPUs. The test keeps its own
// ledger of every node's GPUs and checks, each round, that no node is given
// more GPUs than it has free, that no job is assigned twice, that every job
// is eventually placed, and that equal nodes share the work.

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestRounds(t *testing.T) {
	for s := range uint64(5) {
		seed := *flagSeed + s
		if err := runRounds(seed); err != nil {
			t.Fatalf("SEED=%d: %v", seed, err)
		}
	}
}

func runRounds(seed uint64) error {
	const nodeCount, rounds, drain = 10, 400, 100
	rng := rand.New(rand.NewPCG(seed, 0x70d5))
	nodes := make([]Node, nodeCount)
	for i := range nodes {
		nodes[i] = baseNode(fmt.Sprintf("node-%d", i))
		nodes[i].TotalGPUs, nodes[i].FreeGPUs = 4, 4
	}
	type running struct {
		node   int
		gpus   uint32
		endsAt int
	}
	var (
		open    []Job
		live    []running
		placed  = map[string]bool{}
		perNode = map[string]int{}
		nextID  int
	)
	index := map[string]int{}
	for i, n := range nodes {
		index[n.ID] = i
	}
	for r := range rounds + drain {
		// Jobs that ended free their GPUs; heartbeats report it.
		kept := live[:0]
		for _, x := range live {
			if x.endsAt <= r {
				nodes[x.node].FreeGPUs += x.gpus
				nodes[x.node].QueueLen--
			} else {
				kept = append(kept, x)
			}
		}
		live = kept
		if r < rounds {
			for range rng.IntN(5) {
				j := baseJob(fmt.Sprintf("job-%d", nextID))
				j.GPUs = uint32(1 + rng.IntN(4))
				open = append(open, j)
				nextID++
			}
		}
		blockSeed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("round"), uint64(r)))
		as, err := Schedule(open, nodes, blockSeed, DefaultParams())
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		var still []Job
		for k, a := range as {
			j := open[k]
			if a.Reason != Placed {
				if a.Reason != NoCapacity {
					return fmt.Errorf("round %d: job %s: unexpected reason %s", r, j.ID, a.Reason)
				}
				still = append(still, j)
				continue
			}
			if placed[j.ID] {
				return fmt.Errorf("round %d: job %s assigned twice", r, j.ID)
			}
			placed[j.ID] = true
			n := &nodes[index[a.NodeID]]
			if n.FreeGPUs < j.GPUs {
				return fmt.Errorf("round %d: node %s given %d GPUs with %d free", r, n.ID, j.GPUs, n.FreeGPUs)
			}
			n.FreeGPUs -= j.GPUs
			n.QueueLen++
			perNode[n.ID]++
			live = append(live, running{node: index[n.ID], gpus: j.GPUs, endsAt: r + 1 + rng.IntN(5)})
		}
		open = still
	}
	if len(open) > 0 || len(placed) != nextID {
		return fmt.Errorf("%d jobs never placed (%d of %d placed)", len(open), len(placed), nextID)
	}
	mean := nextID / nodeCount
	for _, n := range nodes {
		if c := perNode[n.ID]; c < mean/2 || c > mean*3/2 {
			return fmt.Errorf("node %s ran %d jobs, mean %d: %v", n.ID, c, mean, perNode)
		}
	}
	return nil
}
