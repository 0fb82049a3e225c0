package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// Limits and defaults of the genesis format.
const (
	DefaultGasLimit      = 60_000_000
	MinGasLimit          = 5_000
	DefaultBlockPeriodMs = 1000
	MinBlockPeriodMs     = 50
	DefaultEpochLength   = 30_000
	// DefaultBaseFeeWei is the initial base fee: 1 gwei.
	DefaultBaseFeeWei = 1_000_000_000
	// DefaultMinBaseFeeWei is the floor the base fee never drops below.
	DefaultMinBaseFeeWei = 1_000_000_000
	// MaxFileBytes bounds a genesis file read from disk.
	MaxFileBytes = 64 << 20
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
}

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
	for addr, acct := range g.Alloc {
		if acct.Balance == nil {
			return fmt.Errorf("%w: alloc %s has no balance", ErrInvalid, addr)
		}
		if acct.Balance.Sign() < 0 || acct.Balance.BitLen() > 256 {
			return fmt.Errorf("%w: alloc %s balance out of range", ErrInvalid, addr)
		}
	}
	return nil
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
