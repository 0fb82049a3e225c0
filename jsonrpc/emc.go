package jsonrpc

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/staking/credits"
)

// emcAPI serves the emc namespace: chain-native modules and consensus.
type emcAPI struct{ b Backend }

// SystemContracts lists each chain-native module's name, address and ABI.
func (api *emcAPI) SystemContracts(ctx context.Context) ([]SystemContract, error) {
	sc := api.b.SystemContracts()
	if sc == nil {
		sc = []SystemContract{}
	}
	return sc, nil
}

// ConsensusStatus returns the consensus engine's view (height, round,
// validators), as the node reports it.
func (api *emcAPI) ConsensusStatus(ctx context.Context) (any, error) {
	return api.b.ConsensusStatus()
}

// Evidence is one equivocation as emc_evidence reports it: the offending
// validator, the view it signed twice, and the evidence's canonical RLP
// encoding (what a slashing transaction carries).
type Evidence struct {
	Validator common.Address `json:"validator"`
	Code      string         `json:"code"`
	Height    hexutil.Uint64 `json:"height"`
	Round     hexutil.Uint64 `json:"round"`
	Data      hexutil.Bytes  `json:"data"`
}

// Evidence returns the equivocation evidence this node's consensus engine
// saw (bounded, newest last).
func (api *emcAPI) Evidence(ctx context.Context) ([]Evidence, error) {
	ev, err := api.b.Evidence()
	if ev == nil && err == nil {
		ev = []Evidence{}
	}
	return ev, err
}

// CreditsOf returns address's unspent Credits (whole units, hex like
// eth_getBalance) at the given block (latest when absent), read through the
// credits module's accessor on a state opened for this request alone. A
// chain without the credits module reports zero, as for any empty account.
func (api *emcAPI) CreditsOf(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	return (*hexutil.Big)(credits.CreditsOf(st, address).ToBig()), st.Error()
}
