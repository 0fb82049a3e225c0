package jsonrpc

import "context"

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
