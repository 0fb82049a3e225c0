package txpool

import (
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// Clock is the pool's only source of time: it stamps account activity and
// schedules the stale-queue eviction. Production passes mclock.System{}; tests
// pass *mclock.Simulated and advance it with Run, which fires the eviction on
// the test goroutine, so no test sleeps.
type Clock = mclock.Clock

// txSlotSize is the unit of pool capacity: a transaction of n bytes takes
// ceil(n/txSlotSize) slots (geth's rule), so capacity bounds memory, not just
// the count. With MaxTxSize 128 KiB a transaction takes 1 to 4 slots.
const txSlotSize = 32 * 1024

// Config holds the pool's limits. The zero value of a field means "use the
// default" (see DefaultConfig); call Sanitize to see the effective values.
type Config struct {
	// ChainConfig selects the fork rules used for intrinsic gas and the
	// init-code limit, and the EIP-1559 parameters for the next base fee.
	// nil means Cancun rules (Shanghai's EIP-3860 included) from genesis and
	// the standard EIP-1559 parameters: what emcd runs.
	ChainConfig *params.ChainConfig

	// NextBaseFee, when set, overrides the base fee computation (for a chain
	// with a minimum base fee, say). It gets the head and returns the base fee
	// of the block built on it.
	NextBaseFee func(head *types.Header) *big.Int

	// MinTip is the lowest tip cap admitted, in wei. Default 0: any tip,
	// like anvil and geth --dev; the base fee already prices spam.
	MinTip *big.Int

	// PriceBump is the minimum percentage by which a replacement must raise
	// both the fee cap and the tip cap of the transaction it replaces. Default
	// 10 (geth's).
	PriceBump uint64

	// AccountSlots is the most pending (executable) transactions one account
	// may have. Default 4096: comfortably above the 1,000 back-to-back
	// transactions a load test sends from one account.
	AccountSlots int

	// AccountQueue is the most queued (future, behind a nonce gap)
	// transactions one account may have. Default 1024.
	AccountQueue int

	// GlobalSlots is the capacity of the whole pool, pending plus queued, in
	// 32 KiB slots (a plain transfer takes one). When it is reached the
	// cheapest remote transaction is evicted for a better-paying one.
	// Default 16384 (at most 512 MiB of transactions).
	GlobalSlots int

	// GlobalQueue is the most queued transactions in the pool; past it the
	// queued transactions of the longest-idle account are dropped first.
	// Default 4096.
	GlobalQueue int

	// Lifetime is how long an account's queued transactions stay when the
	// account shows no activity (no new transaction, no promotion). Default
	// 3h (geth's).
	Lifetime time.Duration

	// EvictionInterval is how often stale queued transactions are looked
	// for. Default 1m.
	EvictionInterval time.Duration

	// MaxTxSize is the largest encoded transaction admitted, in bytes.
	// Default 128 KiB (geth's).
	MaxTxSize uint64

	// Metrics receives the pool's metrics; nil means NopMetrics().
	Metrics *Metrics
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		MinTip:           new(big.Int),
		PriceBump:        10,
		AccountSlots:     4096,
		AccountQueue:     1024,
		GlobalSlots:      16384,
		GlobalQueue:      4096,
		Lifetime:         3 * time.Hour,
		EvictionInterval: time.Minute,
		MaxTxSize:        128 * 1024,
	}
}

// Sanitize returns c with every unset or invalid field replaced by its
// default.
func (c Config) Sanitize() Config {
	d := DefaultConfig()
	if c.MinTip == nil || c.MinTip.Sign() < 0 {
		c.MinTip = d.MinTip
	}
	if c.PriceBump == 0 {
		c.PriceBump = d.PriceBump
	}
	if c.AccountSlots <= 0 {
		c.AccountSlots = d.AccountSlots
	}
	if c.AccountQueue <= 0 {
		c.AccountQueue = d.AccountQueue
	}
	if c.GlobalSlots <= 0 {
		c.GlobalSlots = d.GlobalSlots
	}
	if c.GlobalQueue <= 0 {
		c.GlobalQueue = d.GlobalQueue
	}
	if c.Lifetime <= 0 {
		c.Lifetime = d.Lifetime
	}
	if c.EvictionInterval <= 0 {
		c.EvictionInterval = d.EvictionInterval
	}
	if c.MaxTxSize == 0 {
		c.MaxTxSize = d.MaxTxSize
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics()
	}
	return c
}

// String is for the startup log line.
func (c Config) String() string {
	return fmt.Sprintf("account_slots=%d account_queue=%d global_slots=%d global_queue=%d price_bump=%d%% lifetime=%s",
		c.AccountSlots, c.AccountQueue, c.GlobalSlots, c.GlobalQueue, c.PriceBump, c.Lifetime)
}

// defaultRules are the fork rules when Config.ChainConfig is nil: every fork
// up to and including Cancun active, as emcd's genesis configures.
var defaultRules = params.Rules{
	IsHomestead:      true,
	IsEIP150:         true,
	IsEIP155:         true,
	IsEIP158:         true,
	IsEIP2929:        true,
	IsByzantium:      true,
	IsConstantinople: true,
	IsPetersburg:     true,
	IsIstanbul:       true,
	IsBerlin:         true,
	IsLondon:         true,
	IsMerge:          true,
	IsShanghai:       true,
	IsCancun:         true,
}

// rulesFor returns the fork rules for the block after head.
func (c *Config) rulesFor(head *types.Header) params.Rules {
	if c.ChainConfig == nil {
		return defaultRules
	}
	next := new(big.Int).Add(head.Number, big.NewInt(1))
	return c.ChainConfig.Rules(next, true, head.Time)
}

// nextBaseFee returns the base fee of the block after head (never nil).
func (c *Config) nextBaseFee(head *types.Header) *big.Int {
	if c.NextBaseFee != nil {
		if fee := c.NextBaseFee(head); fee != nil {
			return fee
		}
		return new(big.Int)
	}
	if head.BaseFee == nil {
		// Pre-London head: nothing to derive from. Only a misconfigured
		// genesis gets here; admit on tips alone.
		return new(big.Int)
	}
	cfg := c.ChainConfig
	if cfg == nil {
		cfg = params.AllDevChainProtocolChanges // only its EIP-1559 parameters are read
	}
	return eip1559.CalcBaseFee(cfg, head)
}
