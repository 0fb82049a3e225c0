package node

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/jsonrpc"
)

// devAccounts holds the unlocked test-mnemonic keys of dev mode.
type devAccounts struct {
	order []common.Address
	keys  map[common.Address]*ecdsa.PrivateKey
}

var _ jsonrpc.AccountSigner = (*devAccounts)(nil)

func newDevAccounts(keys []*ecdsa.PrivateKey) *devAccounts {
	d := &devAccounts{keys: make(map[common.Address]*ecdsa.PrivateKey, len(keys))}
	for _, k := range keys {
		a := crypto.PubkeyToAddress(k.PublicKey)
		d.order = append(d.order, a)
		d.keys[a] = k
	}
	return d
}

func (d *devAccounts) Addresses() []common.Address { return append([]common.Address(nil), d.order...) }

func (d *devAccounts) key(addr common.Address) (*ecdsa.PrivateKey, error) {
	k, ok := d.keys[addr]
	if !ok {
		return nil, fmt.Errorf("unknown account %s", addr.Hex())
	}
	return k, nil
}

func (d *devAccounts) SignTx(addr common.Address, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	k, err := d.key(addr)
	if err != nil {
		return nil, err
	}
	return types.SignTx(tx, types.LatestSignerForChainID(chainID), k)
}

func (d *devAccounts) SignHash(addr common.Address, digest []byte) ([]byte, error) {
	k, err := d.key(addr)
	if err != nil {
		return nil, err
	}
	return crypto.Sign(digest, k)
}
