package assign

import (
	"bytes"
	"slices"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
)

// Record is what the chain says about one live node's owner: its registry
// entry, its provider counters, the stake behind it (nil: none) and its
// score (computing/score; nil: not scored, the scheduler then weighs the
// counters alone and applies no minimum).
type Record struct {
	Node     registry.Node
	Stats    jobs.Stats
	StakeWei *uint256.Int
	Score    *uint64
}

// Join builds the scheduler's nodes from the live table and the chain's
// records, keyed by owner. A live node is left out when its owner has no
// record, when the record names another peer (a stale or forged
// heartbeat), or when the record breaks a scheduler limit. GPUs come from
// the registry (the chain's Fit checks those), free GPUs and utilisation
// from the heartbeat, clamped to the registered count. nowMs is the
// caller's clock, used only for LastSeen ages. The output is sorted by ID.
func Join(live []heartbeat.Node, records map[common.Address]Record, nowMs int64) []scheduler.Node {
	out := make([]scheduler.Node, 0, len(live))
	seen := make(map[string]bool, len(live))
	for i := range live {
		l := &live[i]
		rec, ok := records[l.Latest.Owner]
		if !ok || !bytes.Equal(rec.Node.PeerID, l.Latest.Peer) {
			continue
		}
		r := &rec.Node
		id := string(l.Peer)
		if id == "" || len(id) > scheduler.MaxIDBytes || seen[id] ||
			len(r.GPUModel) > scheduler.MaxModelBytes || r.GPUCount > scheduler.MaxGPUsPerNode {
			continue
		}
		seen[id] = true
		n := scheduler.Node{
			ID:           id,
			Owner:        l.Latest.Owner,
			GPUModel:     r.GPUModel,
			MemPerGPUMiB: r.MemoryMiB,
			TotalGPUs:    r.GPUCount,
			FreeGPUs:     min(l.Latest.FreeGPUs, r.GPUCount),
			QueueLen:     l.Latest.QueueLen,
			UtilPct:      utilPct(l.Latest.GPUUtil),
			RTT:          max(l.RTT, 0),
			Succeeded:    rec.Stats.Succeeded,
			Failed:       rec.Stats.Failed,
			TimedOut:     rec.Stats.TimedOut,
			LastSeen:     max(time.Duration(nowMs-l.LastSeenMs)*time.Millisecond, 0),
		}
		if rec.StakeWei != nil {
			n.StakeWei = rec.StakeWei.Clone()
		}
		if rec.Score != nil {
			n.Scored, n.Score = true, min(*rec.Score, score.Max)
		}
		if p, ok := r.PriceFor(r.GPUModel); ok && r.GPUCount > 0 && r.GPUModel != "" && r.MemoryMiB > 0 {
			n.PriceWei = p
		}
		if r.CPUPriceWei != nil && !r.CPUPriceWei.IsZero() {
			n.CPUPriceWei = r.CPUPriceWei.Clone()
		}
		for _, img := range r.Images {
			if len(n.Images) == scheduler.MaxImagesPerNode {
				break
			}
			n.Images = append(n.Images, img.Hex())
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b scheduler.Node) int { return cmpString(a.ID, b.ID) })
	return out
}

// Reserve takes from each node's free GPUs those its owner is already
// promised and the heartbeat may not show yet: jobs assigned on chain but
// not accepted, and this router's assign transactions in flight. Free
// GPUs never go below zero.
func Reserve(nodes []scheduler.Node, reservedGPUs map[common.Address]uint64) {
	for i := range nodes {
		r := reservedGPUs[nodes[i].Owner]
		nodes[i].FreeGPUs = uint32(uint64(nodes[i].FreeGPUs) - min(r, uint64(nodes[i].FreeGPUs)))
	}
}

// Assignable reports whether router may assign j in the block after head:
// submitted and drawn, offered to router or past its offer window, and
// not past its assign deadline (the deadline block's transactions still
// count; its EndBlock expires the job).
func Assignable(j *jobs.Job, router common.Address, head uint64) bool {
	next := head + 1
	switch {
	case j.State != jobs.StateSubmitted || !j.Offered:
		return false
	case next > j.Deadline:
		return false
	case next <= j.OfferEndBlock && j.OfferedRouter != router:
		return false
	}
	return true
}

// ToJob is the scheduler's view of j. The ID is the decimal job id; the
// image is the digest's hex, as Join writes a node's images. A job with no
// GPUs is the scheduler's CPU-only job (a node's CPU-only price).
func ToJob(j *jobs.Job) scheduler.Job {
	out := scheduler.Job{
		ID:          JobID(j.ID),
		Submitter:   j.Submitter,
		GPUs:        j.GPUs,
		CPUOnly:     j.CPUOnly(),
		GPUModel:    j.GPUModel,
		MinMemMiB:   j.MinMemoryMiB,
		MaxPriceWei: new(uint256.Int),
	}
	if j.Image != (common.Hash{}) {
		out.ImageDigest = j.Image.Hex()
	}
	if j.MaxPriceWei != nil {
		out.MaxPriceWei = j.MaxPriceWei.Clone()
	}
	return out
}

// JobID is the scheduler ID of job id.
func JobID(id uint64) string { return strconv.FormatUint(id, 10) }

// utilPct is the mean utilisation of the GPUs that report one, rounded
// down; 0 when none does.
func utilPct(util []uint32) uint32 {
	var sum, n uint64
	for _, u := range util {
		if u <= 100 {
			sum += uint64(u)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return uint32(sum / n)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
