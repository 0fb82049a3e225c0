package registrar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/inventory"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/txpool"
)

// What a registrar registers.
const (
	RoleCompute = "compute"
	RoleRouter  = "router"
)

// MaxBackoffBlocks is the longest wait, in blocks, between two attempts
// that failed or were refused.
const MaxBackoffBlocks = 64

// ErrBadConfig is returned by New for a Config it cannot run with.
var ErrBadConfig = errors.New("registrar: bad config")

// Chain is the registrar's view of the chain; *state.Chain satisfies it.
type Chain interface {
	Config() *params.ChainConfig
	Head() *types.Header
	NextBaseFee(parent *types.Header) *big.Int
	StateAt(root common.Hash) (*ethstate.StateDB, error)
	SubscribeHead(ch chan<- state.HeadEvent) event.Subscription
}

// Wallet sends the registrar's transactions; *wallet.Wallet satisfies it.
type Wallet interface {
	Address() common.Address
	Submit(ctx context.Context, req wallet.Request) (*wallet.Handle, error)
}

// Config is what New needs.
type Config struct {
	// Role is RoleCompute or RoleRouter.
	Role string
	// PeerKey is the node's libp2p key: its peer ID is registered, proven
	// by its signature for the wallet's address on this chain.
	PeerKey lcrypto.PrivKey
	// Listing is what a compute node registers (unused for a router).
	Listing inventory.Listing
	Chain   Chain
	Wallet  Wallet
	// Estimate is the gas estimate of a request from the wallet's address.
	Estimate wallet.EstimateFunc
	// Policy is the wallet's fee policy: the fee cap a send will use is
	// what the balance must cover.
	Policy wallet.Policy
	// RouterStaked reports whether owner may register as a router at block
	// number (the registry module's RouterStaked).
	RouterStaked func(s native.StateReader, owner common.Address, number uint64) bool
	// PingEveryBlocks: a registered compute node whose listing matches the
	// chain's sends the registry's ping once its last on-chain update
	// (registry.LastSeen) is this many blocks old, so the jobs module's
	// liveness window (jobs.Params.LivenessBlocks) never closes on it. 0:
	// no pings.
	PingEveryBlocks uint64
	Metrics         *Metrics // nil: NopMetrics
	Log             *slog.Logger
}

// Registrar keeps the node's registration current. Step and Run are for
// one goroutine; SetListing is safe from any.
type Registrar struct {
	cfg    Config
	abi    abi.ABI
	owner  common.Address
	peerID []byte
	log    *slog.Logger
	m      *Metrics

	mu      sync.Mutex
	listing inventory.Listing

	pending     *wallet.Handle
	pendingWhat string
	nextTry     uint64 // no attempt before this head number
	backoff     uint64 // blocks waited after the last failure; 0 after a success
	upToDate    bool
}

// New builds a registrar; Run starts it.
func New(cfg Config) (*Registrar, error) {
	if cfg.Role != RoleCompute && cfg.Role != RoleRouter {
		return nil, fmt.Errorf("%w: role %q (want %s or %s)", ErrBadConfig, cfg.Role, RoleCompute, RoleRouter)
	}
	if cfg.PeerKey == nil || cfg.Chain == nil || cfg.Wallet == nil || cfg.Estimate == nil || cfg.RouterStaked == nil {
		return nil, fmt.Errorf("%w: peer key, chain, wallet, estimate and router-stake check are required", ErrBadConfig)
	}
	if cfg.Policy.MaxFeeCapWei == nil || cfg.Policy.TipWei == nil {
		return nil, fmt.Errorf("%w: no fee policy", ErrBadConfig)
	}
	if cfg.Role == RoleCompute {
		if _, err := cfg.Listing.Record(); err != nil {
			return nil, fmt.Errorf("%w: listing: %w", ErrBadConfig, err)
		}
	}
	var mod registry.Module
	a, err := abi.JSON(strings.NewReader(mod.ABI()))
	if err != nil {
		return nil, fmt.Errorf("registrar: registry ABI: %w", err)
	}
	id, err := peer.IDFromPrivateKey(cfg.PeerKey)
	if err != nil {
		return nil, fmt.Errorf("%w: peer key: %w", ErrBadConfig, err)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	owner := cfg.Wallet.Address()
	return &Registrar{
		cfg: cfg, abi: a, owner: owner, peerID: []byte(id), m: cfg.Metrics, listing: cfg.Listing,
		log: log.With("component", "registrar", "role", cfg.Role, "owner", owner, "peer", id),
	}, nil
}

// PeerID returns the peer ID the registrar registers.
func (r *Registrar) PeerID() peer.ID { return peer.ID(r.peerID) }

// Listing returns what a compute node registers.
func (r *Registrar) Listing() inventory.Listing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listing
}

// SetListing replaces what a compute node registers (new prices, images
// or inventory); the next head sends updateNode when it differs from the
// chain's.
func (r *Registrar) SetListing(l inventory.Listing) error {
	if _, err := l.Record(); err != nil {
		return fmt.Errorf("registrar: listing: %w", err)
	}
	r.mu.Lock()
	r.listing = l
	r.mu.Unlock()
	return nil
}

// Run makes an attempt at the current head, then one per new head (and when
// a transaction it sent is mined) until ctx ends. It returns nil then, or
// the head subscription's error. Nothing here is fatal to the node.
func (r *Registrar) Run(ctx context.Context) error {
	heads := state.FollowHeads(r.cfg.Chain)
	defer heads.Stop()
	r.Step(ctx, r.cfg.Chain.Head())
	for {
		var mined <-chan struct{}
		if r.pending != nil {
			mined = r.pending.Done()
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-heads.Err():
			if err != nil {
				return fmt.Errorf("registrar: head subscription: %w", err)
			}
			return nil
		case h := <-heads.C:
			r.Step(ctx, h)
		case <-mined:
			r.Step(ctx, r.cfg.Chain.Head())
		}
	}
}

// Step makes the decision for head: follow a transaction in flight, wait
// out a backoff, or compare the chain's registration with the node's and
// send what is missing.
func (r *Registrar) Step(ctx context.Context, head *types.Header) {
	number := head.Number.Uint64()
	if r.pending != nil {
		select {
		case <-r.pending.Done():
		default:
			return // one registration transaction at a time
		}
		rc, err := r.pending.Wait(ctx)
		what := r.pendingWhat
		r.pending, r.pendingWhat = nil, ""
		if err != nil {
			r.m.Refused.Inc()
			r.log.Warn("registration transaction failed", "method", what, "err", err)
			r.retryLater(number)
			return
		}
		r.log.Info("registration transaction mined", "method", what, "block", rc.BlockNumber, "tx", rc.TxHash)
		r.backoff, r.nextTry = 0, 0
	}
	if number < r.nextTry {
		return
	}
	st, err := r.cfg.Chain.StateAt(head.Root)
	if err != nil {
		r.log.Error("registration: head state unavailable", "number", number, "err", err)
		return
	}
	method, data, err := r.plan(st, number)
	if err != nil {
		r.refused(number, err)
		return
	}
	if method == "" {
		if !r.upToDate {
			r.log.Info("registration up to date", "number", number)
		}
		r.upToDate = true
		r.m.Registered.Set(1)
		return
	}
	r.upToDate = false
	r.m.Registered.Set(0)
	r.send(ctx, st, head, method, data)
}

// Errors of plan, logged (never returned by the package's API).
var (
	errNothingToSell = errors.New("this node sells nothing (no GPUs and no CPU price): not registering it")
	errNoRouterStake = errors.New("the owner has no router stake effective this epoch: not registering as a router (stake with `emcd stake add --role router`)")
	errOtherPeer     = errors.New("the owner's registration holds another peer ID: deregister it (`emcd node deregister`) for this node to register its own")
)

// plan compares the chain's registration of the owner with the node's and
// returns the method and calldata to send, "" when nothing is to be sent,
// or why the node cannot register.
func (r *Registrar) plan(st native.StateReader, number uint64) (string, []byte, error) {
	if r.cfg.Role == RoleRouter {
		rt, ok, err := registry.RouterOf(st, r.owner)
		if err != nil {
			return "", nil, err
		}
		if ok {
			if !bytes.Equal(rt.PeerID, r.peerID) {
				return "", nil, fmt.Errorf("%w (registered %s)", errOtherPeer, peer.ID(rt.PeerID))
			}
			return "", nil, nil
		}
		// The transaction runs in a later block; number+1 is the earliest.
		if !r.cfg.RouterStaked(st, r.owner, number+1) {
			return "", nil, errNoRouterStake
		}
		return r.pack("registerRouter", nil)
	}
	r.mu.Lock()
	l := r.listing
	r.mu.Unlock()
	n, ok, err := registry.NodeOf(st, r.owner)
	if err != nil {
		return "", nil, err
	}
	switch {
	case ok && !bytes.Equal(n.PeerID, r.peerID):
		return "", nil, fmt.Errorf("%w (registered %s)", errOtherPeer, peer.ID(n.PeerID))
	case ok && l.Matches(&n):
		// The ping lands in block number+1 at the earliest.
		if r.cfg.PingEveryBlocks > 0 && registry.LastSeen(st, &n)+r.cfg.PingEveryBlocks <= number+1 {
			return r.pack("ping", nil)
		}
		return "", nil, nil
	case ok:
		return r.pack("updateNode", l.Args())
	case !l.Sells():
		return "", nil, errNothingToSell
	}
	return r.pack("registerNode", l.Args())
}

// pack encodes method; registerNode and registerRouter get the peer-ID
// proof first.
func (r *Registrar) pack(method string, args []any) (string, []byte, error) {
	if method == "registerNode" || method == "registerRouter" {
		cid, overflow := uint256.FromBig(r.cfg.Chain.Config().ChainID)
		if overflow {
			return "", nil, fmt.Errorf("registrar: chain id %v out of range", r.cfg.Chain.Config().ChainID)
		}
		id, sig, err := registry.SignPeerProof(r.cfg.PeerKey, cid, r.owner)
		if err != nil {
			return "", nil, err
		}
		args = append([]any{id, sig}, args...)
	}
	data, err := r.abi.Pack(method, args...)
	if err != nil {
		return "", nil, fmt.Errorf("registrar: encode %s: %w", method, err)
	}
	return method, data, nil
}

// send estimates the transaction's gas, checks that the owner's balance
// covers it at the fee cap the wallet will use, and submits it.
func (r *Registrar) send(ctx context.Context, st native.StateReader, head *types.Header, method string, data []byte) {
	number := head.Number.Uint64()
	to := native.RegistryAddress
	req := wallet.Request{To: &to, Data: data, Label: method}
	gas, err := r.cfg.Estimate(ctx, r.owner, req)
	if err != nil {
		r.refused(number, fmt.Errorf("the registry would refuse %s: %w", method, err))
		return
	}
	fees, err := wallet.InitialFees(r.cfg.Policy, r.cfg.Chain.NextBaseFee(head))
	if err != nil {
		r.refused(number, fmt.Errorf("%s: %w", method, err))
		return
	}
	need := new(big.Int).Mul(new(big.Int).SetUint64(gas), fees.FeeCap)
	balance := st.GetBalance(r.owner).ToBig()
	if balance.Cmp(need) < 0 {
		r.shortOfGas(number, method, balance, need, gas, fees.FeeCap)
		return
	}
	req.Gas = gas
	h, err := r.cfg.Wallet.Submit(ctx, req)
	if errors.Is(err, txpool.ErrInsufficientFunds) {
		// The balance moved between the head state and the pool's.
		r.shortOfGas(number, method, balance, need, gas, fees.FeeCap)
		return
	}
	if err != nil {
		r.m.Refused.Inc()
		r.log.Warn("registration not sent", "method", method, "err", err, "retry_in_blocks", r.retryLater(number))
		return
	}
	r.pending, r.pendingWhat = h, method
	r.m.Sent.Inc()
	r.log.Info("registration transaction sent", "method", method, "gas", gas)
}

func (r *Registrar) shortOfGas(number uint64, method string, balance, need *big.Int, gas uint64, feeCap *big.Int) {
	r.m.ShortOfGas.Inc()
	r.log.Warn("registration short of gas: fund the node's account", "method", method, "balance_wei", balance,
		"need_wei", need, "gas", gas, "fee_cap_wei", feeCap, "retry_in_blocks", r.retryLater(number))
}

// refused logs why the node cannot register now and backs off.
func (r *Registrar) refused(number uint64, err error) {
	r.m.Refused.Inc()
	r.m.Registered.Set(0)
	r.upToDate = false
	r.log.Warn("not registered", "err", err, "retry_in_blocks", r.retryLater(number))
}

// retryLater doubles the backoff (1, 2, 4 … MaxBackoffBlocks blocks) and
// returns it.
func (r *Registrar) retryLater(number uint64) uint64 {
	r.backoff = min(max(1, 2*r.backoff), MaxBackoffBlocks)
	r.nextTry = number + r.backoff
	return r.backoff
}
