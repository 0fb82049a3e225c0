package node

import (
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/state"
)

// moduleSet is the chain-native modules of a chain.
type moduleSet struct {
	state.Modules
}

func (m moduleSet) contracts() []jsonrpc.SystemContract { return nil }

// LoadModules builds the chain-native modules configured by g's params.
func LoadModules(g *genesis.Genesis) (moduleSet, error) {
	return moduleSet{state.NoModules{}}, nil
}
