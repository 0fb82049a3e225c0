package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"

	emcparams "github.com/emc-network/emcd/params"
)

// Limits and defaults of the genesis format.
const (
	DefaultGasLimit      = 60_000_000
	MinGasLimit          = 5_000
	DefaultBlockPeriodMs = 2000
	MinBlockPeriodMs     = 50
	DefaultEpochLength   = 43_200
	// DefaultBaseFeeWei is the initial base fee: 1 gwei.
	DefaultBaseFeeWei = 1_000_000_000
	// DefaultMinBaseFeeWei is the floor the base fee never drops below.
	DefaultMinBaseFeeWei = 1_000_000_000
	// MaxFileBytes bounds a genesis file read from disk.
	MaxFileBytes = 64 << 20
	// maxSupplyBits bounds totalSupplyWei (2^128 wei is 3.4·10^20 EMC), so
	// that no sum of balances, burns or rewards can come near 256 bits.
	maxSupplyBits = 128
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid genesis")

// Genesis is the JSON genesis file. Numbers may be written as JSON numbers,
// decimal strings or 0x-prefixed hex strings.
type Genesis struct {
	// ChainID is the EIP-155 chain id; required.
	ChainID math.HexOrDecimal64 `json:"chainId"`
	// Timestamp of the genesis block, unix seconds. Never defaulted from the
	// clock, so the same file always gives the same hash.
	Timestamp math.HexOrDecimal64 `json:"timestamp"`
	// GasLimit of every block (fixed for the life of the chain).
	GasLimit math.HexOrDecimal64 `json:"gasLimit,omitempty"`
	// BaseFee is the base fee of the genesis block, in wei; EIP-1559 moves it
	// from there, never below MinBaseFee.
	BaseFee *math.HexOrDecimal256 `json:"baseFeePerGas,omitempty"`
	// MinBaseFee is the base fee floor in wei.
	MinBaseFee *math.HexOrDecimal256 `json:"minBaseFeePerGas,omitempty"`
	// Alloc gives accounts their initial balance, nonce, code and storage.
	Alloc types.GenesisAlloc `json:"alloc"`
	// Validators is the initial IBFT validator set.
	Validators []common.Address `json:"validators"`
	// BlockPeriodMs is the target time between blocks in milliseconds.
	BlockPeriodMs math.HexOrDecimal64 `json:"blockPeriodMs,omitempty"`
	// EpochLength is the number of blocks between validator-set changes.
	EpochLength math.HexOrDecimal64 `json:"epochLength,omitempty"`
	// Params holds each chain-native module's parameters, keyed by module name.
	Params map[string]json.RawMessage `json:"params,omitempty"`
	// TotalSupplyWei is the whole EMC supply, fixed at genesis (nothing is
	// minted later); default DefaultTotalSupplyWei. The chain refuses a
	// genesis whose balances (alloc plus every module account's genesis
	// balance) do not add up to it.
	TotalSupplyWei *math.HexOrDecimal256 `json:"totalSupplyWei,omitempty"`
	// Reserve, when set, is the account that receives the rest of the
	// table: TotalSupplyWei minus the alloc minus the modules' genesis
	// balances, computed when the chain builds its genesis state. It must
	// not also be in Alloc. Without it the table must add up exactly.
	Reserve *common.Address `json:"reserve,omitempty"`
	// Forks schedules the consensus rule changes this chain takes: fork
	// name (one of emcd's params.Forks) to the number of the first block
	// that executes under it. A fork absent here never activates. Unlike
	// the rest of the file, the schedule of a fork may change on a chain
	// that has not reached it (CheckForkChange): that is how a running
	// chain is upgraded.
	Forks map[string]math.HexOrDecimal64 `json:"forks,omitempty"`
}

// ErrForkChange is returned by CheckForkChange for a fork schedule change
// that would alter blocks the chain already holds.
var ErrForkChange = errors.New("genesis: fork schedule change rewrites stored blocks")

// FromJSON decodes and validates a genesis file's bytes. Unknown fields are
// rejected so typos do not silently change the chain.
func FromJSON(data []byte) (*Genesis, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var g Genesis
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the genesis object", ErrInvalid)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// FromFile reads and validates a genesis file.
func FromFile(path string) (*Genesis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("genesis: read %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, MaxFileBytes)
	}
	g, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// JSON returns the indented JSON encoding of g.
func (g *Genesis) JSON() ([]byte, error) {
	return json.MarshalIndent(g, "", "  ")
}

// Validate checks g and fills the defaults of optional fields.
func (g *Genesis) Validate() error {
	if g.ChainID == 0 {
		return fmt.Errorf("%w: chainId is required and must be > 0", ErrInvalid)
	}
	if g.GasLimit == 0 {
		g.GasLimit = DefaultGasLimit
	}
	if g.GasLimit < MinGasLimit {
		return fmt.Errorf("%w: gasLimit %d below minimum %d", ErrInvalid, g.GasLimit, MinGasLimit)
	}
	if g.BaseFee == nil {
		g.BaseFee = (*math.HexOrDecimal256)(big.NewInt(DefaultBaseFeeWei))
	}
	if g.MinBaseFee == nil {
		g.MinBaseFee = (*math.HexOrDecimal256)(big.NewInt(DefaultMinBaseFeeWei))
	}
	if (*big.Int)(g.BaseFee).Sign() < 0 || (*big.Int)(g.MinBaseFee).Sign() < 0 {
		return fmt.Errorf("%w: negative base fee", ErrInvalid)
	}
	if (*big.Int)(g.BaseFee).Cmp((*big.Int)(g.MinBaseFee)) < 0 {
		return fmt.Errorf("%w: baseFeePerGas below minBaseFeePerGas", ErrInvalid)
	}
	if (*big.Int)(g.BaseFee).BitLen() > 128 {
		return fmt.Errorf("%w: baseFeePerGas too large", ErrInvalid)
	}
	if g.BlockPeriodMs == 0 {
		g.BlockPeriodMs = DefaultBlockPeriodMs
	}
	if g.BlockPeriodMs < MinBlockPeriodMs {
		return fmt.Errorf("%w: blockPeriodMs %d below minimum %d", ErrInvalid, g.BlockPeriodMs, MinBlockPeriodMs)
	}
	if g.EpochLength == 0 {
		g.EpochLength = DefaultEpochLength
	}
	if len(g.Validators) == 0 {
		return fmt.Errorf("%w: at least one validator is required", ErrInvalid)
	}
	seen := make(map[common.Address]bool, len(g.Validators))
	for _, v := range g.Validators {
		if v == (common.Address{}) {
			return fmt.Errorf("%w: zero validator address", ErrInvalid)
		}
		if seen[v] {
			return fmt.Errorf("%w: duplicate validator %s", ErrInvalid, v)
		}
		seen[v] = true
	}
	if g.Alloc == nil {
		g.Alloc = types.GenesisAlloc{}
	}
	if g.TotalSupplyWei == nil {
		g.TotalSupplyWei = (*math.HexOrDecimal256)(DefaultTotalSupplyWei())
	}
	total := (*big.Int)(g.TotalSupplyWei)
	if total.Sign() <= 0 || total.BitLen() > maxSupplyBits {
		return fmt.Errorf("%w: totalSupplyWei must be > 0 and below 2^%d", ErrInvalid, maxSupplyBits)
	}
	sum := new(big.Int)
	for addr, acct := range g.Alloc {
		if acct.Balance == nil {
			return fmt.Errorf("%w: alloc %s has no balance", ErrInvalid, addr)
		}
		if acct.Balance.Sign() < 0 || acct.Balance.BitLen() > 256 {
			return fmt.Errorf("%w: alloc %s balance out of range", ErrInvalid, addr)
		}
		sum.Add(sum, acct.Balance)
	}
	if sum.Cmp(total) > 0 {
		return fmt.Errorf("%w: alloc balances sum to %s wei, more than totalSupplyWei %s", ErrInvalid, sum, total)
	}
	for name := range g.Forks {
		if !emcparams.KnownFork(name) {
			return fmt.Errorf("%w: fork %q is not known to emcd %s (it knows %s): upgrade emcd to follow this chain",
				ErrInvalid, name, emcparams.Version, knownForks())
		}
	}
	if g.Reserve != nil {
		if *g.Reserve == (common.Address{}) {
			return fmt.Errorf("%w: reserve is the zero address", ErrInvalid)
		}
		if _, ok := g.Alloc[*g.Reserve]; ok {
			return fmt.Errorf("%w: reserve %s is also in alloc (it receives the rest of the table)", ErrInvalid, *g.Reserve)
		}
	}
	return nil
}

func knownForks() string {
	var names []string
	for _, f := range emcparams.Forks {
		names = append(names, f.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// ForkBlock returns the activation block of fork name, ok false when g
// does not schedule it.
func (g *Genesis) ForkBlock(name string) (block uint64, ok bool) {
	b, ok := g.Forks[name]
	return uint64(b), ok
}

// ScheduleAllForks schedules every fork this binary knows at block 0 (the
// rules a new chain should start with), keeping any already scheduled.
func (g *Genesis) ScheduleAllForks() {
	for _, f := range emcparams.Forks {
		if _, ok := g.Forks[f.Name]; ok {
			continue
		}
		if g.Forks == nil {
			g.Forks = map[string]math.HexOrDecimal64{}
		}
		g.Forks[f.Name] = 0
	}
}

// SameExceptForks reports whether g and other are the same genesis but
// for their fork schedules: every other setting is compared by its JSON
// encoding.
func (g *Genesis) SameExceptForks(other *Genesis) (bool, error) {
	a, b := *g, *other
	a.Forks, b.Forks = nil, nil
	aj, err := json.Marshal(&a)
	if err != nil {
		return false, fmt.Errorf("genesis: encode: %w", err)
	}
	bj, err := json.Marshal(&b)
	if err != nil {
		return false, fmt.Errorf("genesis: encode: %w", err)
	}
	return bytes.Equal(aj, bj), nil
}

// CheckForkChange checks that a chain whose head is block head, created
// with fork schedule old, may run with schedule new: every fork whose
// activation block differs (added, moved or removed) must activate, in
// both schedules, after head, so no stored block changes its rules. It
// returns the names of the forks that changed, sorted, and an error
// wrapping ErrForkChange naming the first offending fork. This is the
// rule go-ethereum applies to its ChainConfig on start.
func CheckForkChange(old, new map[string]math.HexOrDecimal64, head uint64) ([]string, error) {
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range new {
		names[n] = true
	}
	var changed []string
	for n := range names {
		ob, inOld := old[n]
		nb, inNew := new[n]
		if inOld == inNew && ob == nb {
			continue
		}
		changed = append(changed, n)
	}
	sort.Strings(changed)
	for _, n := range changed {
		ob, inOld := old[n]
		nb, inNew := new[n]
		describe := func(b math.HexOrDecimal64, in bool) string {
			if !in {
				return "never"
			}
			return fmt.Sprintf("block %d", uint64(b))
		}
		if (inOld && uint64(ob) <= head) || (inNew && uint64(nb) <= head) {
			return changed, fmt.Errorf("%w: fork %q moves from %s to %s, but the chain holds blocks up to %d: "+
				"a fork can be scheduled, moved or removed only before the chain reaches it (keep the schedule this data dir was created with, or resync)",
				ErrForkChange, n, describe(ob, inOld), describe(nb, inNew), head)
		}
	}
	return changed, nil
}

// TotalSupply returns g's total supply in wei.
func (g *Genesis) TotalSupply() *big.Int {
	if g.TotalSupplyWei == nil {
		return DefaultTotalSupplyWei()
	}
	return new(big.Int).Set((*big.Int)(g.TotalSupplyWei))
}

// ChainConfig returns the go-ethereum chain configuration of g: every fork up
// to and including Cancun is active from genesis; Prague and later are off.
func (g *Genesis) ChainConfig() *params.ChainConfig {
	zero := uint64(0)
	b0 := big.NewInt(0)
	return &params.ChainConfig{
		ChainID:                 new(big.Int).SetUint64(uint64(g.ChainID)),
		HomesteadBlock:          b0,
		EIP150Block:             b0,
		EIP155Block:             b0,
		EIP158Block:             b0,
		ByzantiumBlock:          b0,
		ConstantinopleBlock:     b0,
		PetersburgBlock:         b0,
		IstanbulBlock:           b0,
		MuirGlacierBlock:        b0,
		BerlinBlock:             b0,
		LondonBlock:             b0,
		ArrowGlacierBlock:       b0,
		GrayGlacierBlock:        b0,
		MergeNetsplitBlock:      b0,
		ShanghaiTime:            &zero,
		CancunTime:              &zero,
		TerminalTotalDifficulty: b0,
		BlobScheduleConfig:      &params.BlobScheduleConfig{Cancun: params.DefaultCancunBlobConfig},
	}
}

// MinBaseFeeWei returns the base fee floor.
func (g *Genesis) MinBaseFeeWei() *big.Int { return new(big.Int).Set((*big.Int)(g.MinBaseFee)) }

// BaseFeeWei returns the genesis block's base fee.
func (g *Genesis) BaseFeeWei() *big.Int { return new(big.Int).Set((*big.Int)(g.BaseFee)) }
