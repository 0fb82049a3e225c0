package node

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// chainChallenges answers the challenge services' chain questions from
// the head state; each call opens its own StateDB.
type chainChallenges struct {
	chain *state.Chain
	mod   *verify.Module
}

var (
	_ challenge.NodeChain     = chainChallenges{}
	_ challenge.VerifierChain = chainChallenges{}
)

func (c chainChallenges) head() (native.StateReader, uint64, error) {
	h := c.chain.Head()
	st, err := c.chain.StateAt(h.Root)
	if err != nil {
		return nil, 0, err
	}
	return st, h.Number.Uint64(), nil
}

func (c chainChallenges) Challenge(epoch uint64, node common.Address) (verify.Challenge, error) {
	st, num, err := c.head()
	if err != nil {
		return verify.Challenge{}, err
	}
	return c.mod.ChallengeOf(st, epoch, node, num)
}

func (c chainChallenges) EpochSeed(epoch uint64) (common.Hash, bool) {
	st, _, err := c.head()
	if err != nil {
		return common.Hash{}, false
	}
	s, _, ok := verify.EpochSeed(st, epoch)
	return s, ok
}

func (c chainChallenges) SampleSeed(deadline uint64) (common.Hash, bool) {
	st, _, err := c.head()
	if err != nil {
		return common.Hash{}, false
	}
	return verify.SampleSeed(st, deadline)
}

func (c chainChallenges) Listing(epoch uint64, owner common.Address) (verify.Listing, error) {
	st, _, err := c.head()
	if err != nil {
		return verify.Listing{}, err
	}
	return c.mod.ListingOf(st, epoch, owner)
}

func (c chainChallenges) Nodes() ([]common.Address, error) {
	st, _, err := c.head()
	if err != nil {
		return nil, err
	}
	owners, _ := registry.NodeOwners(st, 0, registry.NodeCount(st))
	return owners, nil
}

// walletChallenges sends the challenge transactions through the node
// wallet, to the verify module; it does not wait for them to be mined
// (the services read the outcome from the chain).
type walletChallenges struct {
	w   *wallet.Wallet
	abi abi.ABI
}

func (s walletChallenges) send(ctx context.Context, label, method string, args ...any) error {
	data, err := s.abi.Pack(method, args...)
	if err != nil {
		return fmt.Errorf("pack %s: %w", method, err)
	}
	to := native.VerifyAddress
	_, err = s.w.Submit(ctx, wallet.Request{To: &to, Data: data, Label: label})
	return err
}

func (s walletChallenges) CommitRoot(ctx context.Context, epoch uint64, root common.Hash) error {
	return s.send(ctx, "pow-commit", "commitRoot", epoch, [32]byte(root))
}

func (s walletChallenges) Rebut(ctx context.Context, epoch uint64, v common.Address, openings []byte) error {
	return s.send(ctx, "pow-rebut", "rebut", epoch, v, openings)
}

func (s walletChallenges) Attest(ctx context.Context, epoch uint64, node common.Address, openings []byte) error {
	return s.send(ctx, "pow-attest", "attest", epoch, node, openings)
}

func (s walletChallenges) AttestFail(ctx context.Context, epoch uint64, node common.Address) error {
	return s.send(ctx, "pow-attest-fail", "attestFail", epoch, node)
}

// p2pFetcher asks a node for its openings over the challenge protocol,
// finding its peer id in the registry.
type p2pFetcher struct {
	req   p2p.Requester
	spec  p2p.Spec
	peers chainResults
}

func (f p2pFetcher) Fetch(ctx context.Context, node common.Address, req []byte) ([]byte, error) {
	id, ok, err := f.peers.NodePeer(node)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("node %s is not registered", node)
	}
	return f.req.Request(ctx, id, f.spec, req)
}

// startChallenges runs the proof-of-work challenge services
// (computing/challenge) on a chain with the verify module: a compute node
// with a key of its own computes, commits and serves its challenge and
// rebuts false fails; a validator checks the challenges it is drawn for
// and attests from its key (the validator signer, the node wallet's key),
// and records the misses of nodes that never committed (missReporter).
// The dev node runs both: its compute side from the node wallet (the dev
// compute owner) over the in-process link, its verifier from a wallet of
// the dev signer. Routers run neither.
func (n *Node) startChallenges(ctx context.Context) error {
	mod := n.backend.verify
	if mod == nil || n.wallet == nil || n.walletKey == nil {
		return nil
	}
	vabi, err := abi.JSON(strings.NewReader(mod.ABI()))
	if err != nil {
		return fmt.Errorf("node: challenges: %w", err)
	}
	chainID := uint256.MustFromBig(n.chain.Config().ChainID)
	spec := challenge.Spec(p2p.Names{ChainID: chainID.Uint64()}, 0)
	cc := chainChallenges{n.chain, mod}
	metrics := challenge.NewMetrics(n.reg)
	chunks := mod.Params().PoW.ChunksPerValidator
	compute := func(srv p2p.Server, pen p2p.Penalizer) (func(context.Context, uint64, uint64) error, error) {
		s, err := challenge.NewServer(challenge.ServerConfig{ChainID: chainID, Owner: n.wallet.Address(), Chain: cc, Chunks: chunks,
			Now: time.Now, Penalizer: pen, Metrics: metrics, Log: n.baseLog})
		if err != nil {
			return nil, err
		}
		if err := s.Register(srv, spec); err != nil {
			return nil, err
		}
		workers := n.cfg.VerifyWorkers
		if workers <= 0 {
			workers = 2
		}
		prove, err := n.challengeProver(ctx, workers, mod.Params().PoW)
		if err != nil {
			return nil, err
		}
		svc, err := challenge.NewNodeService(challenge.NodeConfig{Owner: n.wallet.Address(), Chain: cc, Sender: walletChallenges{n.wallet, vabi},
			Server: s, Workers: workers, Prove: prove, Chunks: chunks, Metrics: metrics, Log: n.baseLog})
		if err != nil {
			return nil, err
		}
		n.wg.Add(1)
		go func() { defer n.wg.Done(); <-ctx.Done(); svc.Close() }()
		return svc.OnHead, nil
	}
	verifier := func(key *ecdsa.PrivateKey, w *wallet.Wallet, req p2p.Requester) (func(context.Context, uint64, uint64) error, error) {
		svc, err := challenge.NewVerifierService(challenge.VerifierConfig{ChainID: chainID, Key: key, Chain: cc,
			Fetcher: p2pFetcher{req, spec, chainResults{n.chain}}, Sender: walletChallenges{w, vabi}, Chunks: chunks,
			Now: time.Now, Metrics: metrics, Log: n.baseLog})
		if err != nil {
			return nil, err
		}
		miss := newMissReporter(mod, crypto.PubkeyToAddress(key.PublicKey), walletChallenges{w, vabi}, n.baseLog.With("component", "miss-reporter"))
		missed := missStep(cc, miss)
		return func(ctx context.Context, head, epoch uint64) error {
			return errors.Join(svc.OnHead(ctx, head, epoch), missed(ctx, head, epoch))
		}, nil
	}
	var steps []func(context.Context, uint64, uint64) error
	switch {
	case n.dev != nil:
		if n.gpus != nil {
			step, err := compute(n.dev.peers, nil)
			if err != nil {
				return fmt.Errorf("node: challenges: %w", err)
			}
			steps = append(steps, step)
		}
		w, err := wallet.New(wallet.Config{
			Key: genesis.DevSignerKey(), Chain: n.chain, Pool: n.pool, Send: n.backend.SendTx, Estimate: n.estimateGas,
			Policy: wallet.DefaultPolicy(), Metrics: wallet.NopMetrics(),
		}, n.baseLog.With("wallet", "verifier"))
		if err != nil {
			return fmt.Errorf("node: dev verifier wallet: %w", err)
		}
		n.spawn(func() error { return w.Run(ctx) })
		step, err := verifier(genesis.DevSignerKey(), w, n.dev.peers)
		if err != nil {
			return fmt.Errorf("node: challenges: %w", err)
		}
		steps = append(steps, step)
	case n.net != nil && n.cfg.Role == RoleCompute:
		step, err := compute(n.net.host, n.net.host)
		if err != nil {
			return fmt.Errorf("node: challenges: %w", err)
		}
		steps = append(steps, step)
	case n.net != nil && n.cfg.Role == RoleValidator:
		step, err := verifier(n.walletKey, n.wallet, n.net.host)
		if err != nil {
			return fmt.Errorf("node: challenges: %w", err)
		}
		steps = append(steps, step, n.startProber(cc, n.walletKey, n.wallet.Address(), walletChallenges{n.wallet, vabi}, n.net.host))
	default:
		return nil
	}
	log := n.log.With("component", "challenges")
	log.Info("proof-of-work challenges on", "role", n.cfg.Role, "dev", n.dev != nil, "services", len(steps))
	// The follower keeps only the newest head, so the services never hold
	// up a block insert and skip heads they were too slow for.
	heads := state.FollowHeads(n.chain)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer heads.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case h := <-heads.C:
				num := h.Number.Uint64()
				for _, step := range steps {
					if err := step(ctx, num, mod.EpochOf(num)); err != nil {
						log.Warn("challenge step failed", "head", num, "err", err)
					}
				}
			}
		}
	}()
	return nil
}
