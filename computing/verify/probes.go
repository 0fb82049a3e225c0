package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// Router probes (docs/verification.md, "Router probes"): each epoch the
// validators drawn for a router ([Module.DrawProbers]) fetch a result
// record through its relay; a prober whose fetch never succeeds reports
// probeFail(epoch, router). When the reports reach ⌈passesNeeded·probers/
// verifiers⌉ (2 of 3 with the defaults) the router fails the epoch and its
// router credits of the epoch are forfeited (rewards.ForfeitRouterCredits).
// A silence cannot be proven, so a fail is a vote; it only ever withholds
// credits, never stake. A pass is silence: nothing is sent for it.

// tagProbe is the domain tag of the probe seed, so that an account that
// is both a router and a compute node gets independent draws.
const tagProbe = "emcd:verify:v1:probe"

// Errors of probeFail.
var (
	// ErrNotProber is returned by probeFail from an account the draw did
	// not pick for the router in the epoch.
	ErrNotProber = errors.New("verify: not a prober of this router")
	// ErrProbeDone is returned by a second probeFail of one prober for
	// one router and epoch.
	ErrProbeDone = errors.New("verify: probe already reported")
	// ErrNothingToProbe is returned by probeFail for a router that earned
	// no router credits in the epoch: it relayed no accepted assignment,
	// so there is neither a record to probe nor anything to forfeit.
	ErrNothingToProbe = errors.New("verify: router has nothing to probe in this epoch")
)

// ProbeFailGas: the epoch's seed and info (2 × 2,100), the router's tag
// in the rewards account (2,600 + 2,100), the draw ((2v+3) × 2,100 and
// 1,000 of hashing), the probe word and the router's counter word (2 ×
// 22,100), the ProbeFailed log (4 topics, 32 bytes) 2,131, and the
// forfeit (rewards.ForfeitRouterGas).
func ProbeFailGas(v uint64) uint64 {
	return 2*2_100 + 2_600 + 2_100 + (2*v+3)*2_100 + 1_000 + 2*22_100 + 2_131 + rewards.ForfeitRouterGas
}

// ProbeOfGas: the probe word, the epoch's seed and info and the draw.
func ProbeOfGas(v uint64) uint64 { return ViewGas + 3*2_100 + (2*v+3)*2_100 + 1_000 }

// RouterProbesOfGas reads the router's counter word.
const RouterProbesOfGas = ViewGas + 2_100

// ProbeSeed is the seed of router's probers in an epoch of seed
// epochSeed: SHA-256(tagProbe ‖ epochSeed ‖ router).
func ProbeSeed(epochSeed common.Hash, router common.Address) common.Hash {
	var buf [len(tagProbe) + 32 + 20]byte
	p := copy(buf[:], tagProbe)
	p += copy(buf[p:], epochSeed[:])
	copy(buf[p:], router[:])
	return sha256.Sum256(buf[:])
}

// DrawProbers draws router's probers of epoch: [Module.DrawVerifiers]
// keyed by [ProbeSeed], so never the router's owner account nor a signer
// it claimed. ok is false before the epoch's seed is on chain.
func (m *Module) DrawProbers(s native.StateReader, epoch uint64, router common.Address) (probers []common.Address, ok bool) {
	seed, _, ok := EpochSeed(s, epoch)
	if !ok {
		return nil, false
	}
	return m.DrawVerifiers(s, epoch, ProbeSeed(seed, router), router), true
}

// Probe is a router's probe record of one epoch.
type Probe struct {
	// Probers are the drawn validators (signers), in draw order.
	Probers []common.Address
	// Failed[i] is true once Probers[i] reported a failure.
	Failed []bool
	// Needed is how many failure reports fail the router.
	Needed uint8
	// RouterFailed: the reports reached Needed; the router's credits of
	// the epoch were forfeited.
	RouterFailed bool
}

// RouterProbes are a router's counters over all epochs.
type RouterProbes struct {
	// FailReports counts the probeFail reports against the router.
	FailReports uint64
	// FailedEpochs counts the epochs it failed (and lost its credits).
	FailedEpochs uint64
}

// probe word at slot 9 [epoch][router]: u8 mask of the prober slots that
// reported (bit i: slot i) ‖ u8 routerFailed.
func probeKey(epoch uint64, router common.Address) common.Hash {
	return native.MapSlot(native.MapSlot(native.Slot(slotProbe), native.Slot(epoch)), native.AddressKey(router))
}

func routerProbesKey(router common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotRouterProbes), native.AddressKey(router))
}

// ProbeOf reads router's probe record of epoch (no probers before the
// epoch's seed).
func (m *Module) ProbeOf(s native.StateReader, epoch uint64, router common.Address) (Probe, error) {
	w := s.GetState(native.VerifyAddress, probeKey(epoch, router))
	if w[1] > 1 || int(w[0]) >= 1<<MaxVerifiers {
		return Probe{}, fmt.Errorf("%w: probe of %s in epoch %d", ErrCorrupt, router, epoch)
	}
	ps, _ := m.DrawProbers(s, epoch, router)
	p := Probe{Probers: append([]common.Address{}, ps...), Failed: make([]bool, len(ps)), Needed: m.needed(len(ps)), RouterFailed: w[1] == 1}
	for i := range ps {
		p.Failed[i] = w[0]&(1<<i) != 0
	}
	return p, nil
}

// RouterProbesOf reads router's probe counters.
func RouterProbesOf(s native.StateReader, router common.Address) RouterProbes {
	w := s.GetState(native.VerifyAddress, routerProbesKey(router))
	return RouterProbes{FailReports: binary.BigEndian.Uint64(w[0:]), FailedEpochs: binary.BigEndian.Uint64(w[8:])}
}

func (m *Module) probeFail(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	router, _ := args[1].(common.Address)
	if cur := c.BlockNumber / m.epochLength; epoch != cur {
		return nil, fmt.Errorf("%w: epoch %d, current %d", ErrWrongEpoch, epoch, cur)
	}
	probers, ok := m.DrawProbers(c.State, epoch, router)
	if !ok {
		return nil, fmt.Errorf("%w: epoch %d", ErrNoSeed, epoch)
	}
	slot := -1
	for i, p := range probers {
		if p == c.Caller {
			slot = i
		}
	}
	if slot < 0 {
		return nil, fmt.Errorf("%w: %s for router %s in epoch %d", ErrNotProber, c.Caller, router, epoch)
	}
	key := probeKey(epoch, router)
	w := c.Load(key)
	if w[0]&(1<<slot) != 0 {
		return nil, fmt.Errorf("%w: %s for router %s in epoch %d", ErrProbeDone, c.Caller, router, epoch)
	}
	failed := w[1] == 1
	if !failed && !rewards.RouterCredited(c.State, router, rewards.RewardEpoch(c.BlockNumber, m.epochLength)) {
		return nil, fmt.Errorf("%w: %s in epoch %d", ErrNothingToProbe, router, epoch)
	}
	if w == (common.Hash{}) {
		m.index(c, epoch, router) // the epoch's first report against the router
	}
	w[0] |= 1 << slot
	bump(c, slotRouterProbes, router, 0)
	decided := !failed && bits.OnesCount8(w[0]) >= int(m.needed(len(probers)))
	if decided {
		w[1] = 1
		bump(c, slotRouterProbes, router, 1)
		if m.rewards != nil {
			if _, err := m.rewards.ForfeitRouterCredits(c, router); err != nil {
				return nil, fmt.Errorf("verify: forfeit of %s's router credits: %w", router, err)
			}
		}
	}
	c.Store(key, w)
	return nil, c.Emit("ProbeFailed", epoch, router, c.Caller, decided)
}

func (m *Module) probeOf(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	router, _ := args[1].(common.Address)
	if err := m.checkKept(epoch, c.BlockNumber); err != nil {
		return nil, err
	}
	p, err := m.ProbeOf(c.State, epoch, router)
	if err != nil {
		return nil, err
	}
	return []any{p.Probers, p.Failed, p.Needed, p.RouterFailed}, nil
}

func (m *Module) routerProbesOf(c *native.Call, args []any) ([]any, error) {
	router, _ := args[0].(common.Address)
	r := RouterProbesOf(c.State, router)
	return []any{r.FailReports, r.FailedEpochs}, nil
}
