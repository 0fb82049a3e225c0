package staking

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// ReportDoubleSignBaseGas is reportDoubleSign()'s cost without unbonding
// entries: 2 signature recoveries 6,000 + decoding and hashing 1,000; 18
// slots touched cold (offence, signer claim, signer, meta, jailed, amount,
// prev, changeEpoch, unbonding length, role total, total unbonding, owner
// index, owners length, owners[i], owners[last], the moved owner's index,
// the burn ledger's total and slash slots) 37,800; 5 fresh writes (offence,
// jailed, prev, changeEpoch, the slash ledger) 100,000 and 11 resets
// 31,900; the reporter's payment to a new account 34,000; the Slashed log
// (3 topics, 96 bytes) 2,268: 212,968, rounded up; + the rewards
// module's weight update (rewards.PositionChangeGas: a slash changes the
// position's amount) + the forfeit of the owner's unvested trade rewards
// (rewards.ForfeitTradeGas). reportDoubleSign() declares it + MaxUnbonding ×
// WithdrawGasPerEntry (each entry read and rewritten or cleared).
const ReportDoubleSignBaseGas = 213_000 + rewards.PositionChangeGas + rewards.ForfeitTradeGas

// ReportDoubleSignGas is reportDoubleSign()'s declared gas under p.
func (p Params) ReportDoubleSignGas() uint64 {
	return ReportDoubleSignBaseGas + p.MaxUnbonding*WithdrawGasPerEntry
}

// MaxSignedMessageSize bounds each encoded message of reportDoubleSign.
const MaxSignedMessageSize = ibft.MaxEvidenceSize

// Revert reasons of reportDoubleSign and of staking while jailed.
var (
	ErrBadDoubleSign   = errors.New("staking: invalid double-sign evidence")
	ErrNotSlashable    = errors.New("staking: signer is not the signer of a validator position with stake")
	ErrEvidenceExpired = errors.New("staking: double-sign evidence is older than the unbonding window")
	ErrEvidenceFuture  = errors.New("staking: double-sign evidence is for a height not yet reached")
	ErrAlreadyReported = errors.New("staking: offence already reported")
	ErrJailed          = errors.New("staking: position is jailed for double signing")
)

// EncodeSigned returns the bytes reportDoubleSign takes for one signed
// consensus message: the RLP encoding of its signed part (ibft.Signed,
// without payloads).
func EncodeSigned(s ibft.Signed) ([]byte, error) {
	b, err := rlp.EncodeToBytes(&s)
	if err != nil {
		return nil, fmt.Errorf("staking: encode signed message: %w", err)
	}
	return b, nil
}

// DoubleSignArgs returns reportDoubleSign's two arguments for ev.
func DoubleSignArgs(ev ibft.Evidence) (a, b []byte, err error) {
	if a, err = EncodeSigned(ev.First); err != nil {
		return nil, nil, err
	}
	if b, err = EncodeSigned(ev.Second); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// parsedABI is the module's ABI, parsed once for the Go helpers.
var parsedABI = sync.OnceValues(func() (abi.ABI, error) { return abi.JSON(strings.NewReader(abiJSON)) })

// ReportDoubleSignData returns the calldata of a reportDoubleSign
// transaction carrying ev (what a validator node sends for the evidence its
// consensus engine saw).
func ReportDoubleSignData(ev ibft.Evidence) ([]byte, error) {
	a, b, err := DoubleSignArgs(ev)
	if err != nil {
		return nil, err
	}
	parsed, err := parsedABI()
	if err != nil {
		return nil, fmt.Errorf("staking: ABI: %w", err)
	}
	data, err := parsed.Pack("reportDoubleSign", a, b)
	if err != nil {
		return nil, fmt.Errorf("staking: pack reportDoubleSign: %w", err)
	}
	return data, nil
}

// DecodeDoubleSign decodes reportDoubleSign's two messages (see
// [EncodeSigned]), in either order, into canonical evidence that proves an
// equivocation, and returns it with its signer. It accepts exactly what
// ibft's Verify accepts: one code (PRE-PREPARE, PREPARE, COMMIT or
// ROUND-CHANGE), height and round, conflicting votes (different digests;
// for ROUND-CHANGE a different prepared claim), both signatures recovering
// to one address. Errors wrap ErrBadDoubleSign.
func DecodeDoubleSign(a, b []byte) (*ibft.Evidence, common.Address, error) {
	var sa, sb ibft.Signed
	for _, x := range []struct {
		name string
		data []byte
		dst  *ibft.Signed
	}{{"first", a, &sa}, {"second", b, &sb}} {
		if len(x.data) > MaxSignedMessageSize {
			return nil, common.Address{}, fmt.Errorf("%w: %s message %d bytes > %d", ErrBadDoubleSign, x.name, len(x.data), MaxSignedMessageSize)
		}
		if err := rlp.DecodeBytes(x.data, x.dst); err != nil {
			return nil, common.Address{}, fmt.Errorf("%w: %s message: %v", ErrBadDoubleSign, x.name, err)
		}
	}
	if sa.SigningDigest() == sb.SigningDigest() {
		return nil, common.Address{}, fmt.Errorf("%w: the same message twice", ErrBadDoubleSign)
	}
	// Through the canonical encoding, so the shape checks of
	// DecodeEvidence (sizes, codes) apply.
	canon := ibft.NewEvidence(sa, sb)
	enc, err := canon.Encode()
	if err != nil {
		return nil, common.Address{}, fmt.Errorf("%w: %v", ErrBadDoubleSign, err)
	}
	ev, err := ibft.DecodeEvidence(enc)
	if err != nil {
		return nil, common.Address{}, fmt.Errorf("%w: %w", ErrBadDoubleSign, err)
	}
	who, err := ev.Signer()
	if err != nil {
		return nil, common.Address{}, fmt.Errorf("%w: %w", ErrBadDoubleSign, err)
	}
	if _, err := ev.Verify([]common.Address{who}); err != nil {
		return nil, common.Address{}, fmt.Errorf("%w: %w", ErrBadDoubleSign, err)
	}
	return ev, who, nil
}

// OffenceKey identifies one offence: signer equivocated in (code, height,
// round). Each offence is slashed once, whichever pair of messages proves
// it.
func OffenceKey(signer common.Address, code ibft.Code, height, round uint64) common.Hash {
	var buf [20 + 1 + 8 + 8]byte
	copy(buf[:20], signer[:])
	buf[20] = byte(code)
	binary.BigEndian.PutUint64(buf[21:29], height)
	binary.BigEndian.PutUint64(buf[29:], round)
	return crypto.Keccak256Hash(buf[:])
}

// reportDoubleSign slashes the validator whose signer signed the two
// conflicting consensus messages a and b (see [DecodeDoubleSign]), jails
// it for good, pays the caller reporterShareBps of the slash and burns the
// rest.
func (m *Module) reportDoubleSign(c *native.Call, args []any) ([]any, error) {
	a, ok1 := args[0].([]byte)
	b, ok2 := args[1].([]byte)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: messages %T %T", native.ErrBadInput, args[0], args[1])
	}
	ev, signer, err := DecodeDoubleSign(a, b)
	if err != nil {
		return nil, err
	}
	code, height, round := ev.View()
	e := m.epoch(c)
	if height > c.BlockNumber {
		return nil, fmt.Errorf("%w: height %d, block %d", ErrEvidenceFuture, height, c.BlockNumber)
	}
	if he := Epoch(height, m.params.EpochLength); he+m.params.UnbondingEpochs < e {
		return nil, fmt.Errorf("%w: height %d in epoch %d, now epoch %d, window %d epochs",
			ErrEvidenceExpired, height, he, e, m.params.UnbondingEpochs)
	}
	owner, ok := OwnerOfSigner(c.State, signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotSlashable, signer)
	}
	key := OffenceKey(signer, code, height, round)
	if Reported(c.State, key) {
		return nil, fmt.Errorf("%w: %s %s at height %d round %d", ErrAlreadyReported, signer, code, height, round)
	}
	p := posView{c, positionBase(owner)}
	if p.load(fieldAmount).IsZero() && p.load(fieldUnbonding).IsZero() {
		return nil, fmt.Errorf("%w: %s (owner %s) holds nothing", ErrNotSlashable, signer, owner)
	}
	snap := beforeChange(c, owner)
	c.Store(reportedKey(key), common.BigToHash(common.Big1))
	c.Store(jailedKey(owner), common.BigToHash(common.Big1)) // before afterChange, so its hook sees it
	slashed, err := m.slash(c, owner, e)
	if err != nil {
		return nil, err
	}
	if err := afterChange(c, owner, snap); err != nil {
		return nil, err
	}
	if _, err := rewards.ForfeitTrade(c, owner); err != nil {
		return nil, fmt.Errorf("staking: trade rewards of %s: %w", owner, err)
	}
	reward, burn := SplitSlash(slashed, m.params.ReporterShareBps)
	if err := c.Pay(c.Caller, reward); err != nil {
		return nil, err
	}
	if err := c.Burn(native.BurnSlash, burn); err != nil {
		return nil, err
	}
	return nil, c.Emit("Slashed", owner, signer, slashed.ToBig(), c.Caller, reward.ToBig())
}

// SplitSlash splits a slashed amount into the reporter's reward
// (reporterShareBps of it, rounded down) and the burned rest.
func SplitSlash(slashed *uint256.Int, reporterShareBps uint64) (reward, burn *uint256.Int) {
	reward = bpsOf(slashed, reporterShareBps)
	return reward, new(uint256.Int).Sub(slashed, reward)
}

// bpsOf returns ⌊x × bps / 10000⌋ for bps ≤ 10000 without overflow.
func bpsOf(x *uint256.Int, bps uint64) *uint256.Int {
	r, _ := new(uint256.Int).MulDivOverflow(x, uint256.NewInt(bps), uint256.NewInt(bpsDenominator))
	return r // ≤ x: cannot overflow
}

// slash takes slashFractionBps (rounded down) of owner's stake and of each
// of its unbonding entries, keeping the role total and total unbonding
// exact, and returns the sum taken (still in the module's balance). The
// stake change follows snapshot semantics (effective from epoch e+1); a
// position left with nothing is removed at once.
func (m *Module) slash(c *native.Call, owner common.Address, e uint64) (*uint256.Int, error) {
	return slashPosition(c, owner, e, m.params.SlashFractionBps)
}

// slashPosition is slash with the fraction bps (≤ 10000); c is a Call on
// the staking module (a method's, or a host Call).
func slashPosition(c *native.Call, owner common.Address, e, bps uint64) (*uint256.Int, error) {
	p := posView{c, positionBase(owner)}
	md := decodeMeta(p.load(fieldMeta))
	oldAmt := p.load(fieldAmount)
	cut := bpsOf(oldAmt, bps)
	total := TotalStake(c.State, md.role)
	if total.Lt(cut) {
		return nil, fmt.Errorf("%w: role total %s below a position's %s", native.ErrInternal, total, oldAmt)
	}
	c.StoreUint(native.Slot(uint64(md.role)), total.Sub(total, cut))
	rest := new(uint256.Int).Sub(oldAmt, cut)

	// Unbonding entries: cut each, drop those left at zero, keep order.
	n := p.load(fieldUnbonding).Uint64()
	unbCut, kept := new(uint256.Int), uint64(0)
	for i := uint64(0); i < n; i++ {
		amt := c.LoadUint(unbondingKey(p.base, i, false))
		rel := c.Load(unbondingKey(p.base, i, true))
		x := bpsOf(amt, bps)
		unbCut.Add(unbCut, x) // ≤ total unbonding: no overflow
		amt.Sub(amt, x)
		if amt.IsZero() {
			continue
		}
		c.StoreUint(unbondingKey(p.base, kept, false), amt)
		c.Store(unbondingKey(p.base, kept, true), rel)
		kept++
	}
	for i := kept; i < n; i++ {
		c.Store(unbondingKey(p.base, i, false), common.Hash{})
		c.Store(unbondingKey(p.base, i, true), common.Hash{})
	}
	if kept != n {
		p.store(fieldUnbonding, uint256.NewInt(kept))
	}
	totalUnb := TotalUnbonding(c.State)
	if totalUnb.Lt(unbCut) {
		return nil, fmt.Errorf("%w: total unbonding %s below an owner's cut %s", native.ErrInternal, totalUnb, unbCut)
	}
	c.StoreUint(native.Slot(slotTotalUnbonding), totalUnb.Sub(totalUnb, unbCut))

	if rest.IsZero() && kept == 0 {
		// Nothing left: remove the position now (jailed stays); its
		// signer claim stays with the owner, as on withdraw.
		p.store(fieldAmount, new(uint256.Int))
		p.store(fieldMeta, new(uint256.Int))
		p.store(fieldPrev, new(uint256.Int))
		p.store(fieldChangeEpoch, new(uint256.Int))
		if err := removeOwner(c, owner); err != nil {
			return nil, err
		}
	} else if !cut.IsZero() {
		p.recordChange(e, oldAmt, rest)
	}
	return cut.Add(cut, unbCut), nil
}
