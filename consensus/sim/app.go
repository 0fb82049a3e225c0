package sim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/ibft"
)

// The simulated application: a block is
//
//	"emcsim" | height (8) | parent hash (32) | proposer (1) | nonce (8) | valid (1)
//
// and its hash is the keccak of those bytes. A block is valid at height h
// when it names h, the validator's block h-1 as parent, and valid = 1
// (byzantine proposers build blocks with valid = 0).

var (
	errBadBlock     = errors.New("sim: malformed block")
	errInvalidBlock = errors.New("sim: block marked invalid")
	errWrongParent  = errors.New("sim: block on another parent")
)

const blockLen = 6 + 8 + 32 + 1 + 8 + 1

func makeBlock(height uint64, parent common.Hash, proposer int, nonce uint64, valid bool) ibft.Proposal {
	b := make([]byte, 0, blockLen)
	b = append(b, "emcsim"...)
	b = binary.BigEndian.AppendUint64(b, height)
	b = append(b, parent[:]...)
	b = append(b, byte(proposer))
	b = binary.BigEndian.AppendUint64(b, nonce)
	v := byte(0)
	if valid {
		v = 1
	}
	b = append(b, v)
	return ibft.Proposal{Height: height, Hash: crypto.Keccak256Hash(b), Raw: b}
}

type block struct {
	height uint64
	parent common.Hash
	valid  bool
}

func parseBlock(raw []byte) (block, error) {
	if len(raw) != blockLen || string(raw[:6]) != "emcsim" {
		return block{}, errBadBlock
	}
	return block{
		height: binary.BigEndian.Uint64(raw[6:14]),
		parent: common.BytesToHash(raw[14:46]),
		valid:  raw[blockLen-1] == 1,
	}, nil
}

// validate is the application's check of a proposal at a validator whose
// block at height-1 is parent. It returns the hash it computed.
func validate(p ibft.Proposal, parent common.Hash) (common.Hash, error) {
	b, err := parseBlock(p.Raw)
	if err != nil {
		return common.Hash{}, err
	}
	h := crypto.Keccak256Hash(p.Raw)
	switch {
	case b.height != p.Height:
		return h, fmt.Errorf("%w: height %d at %d", errBadBlock, b.height, p.Height)
	case b.parent != parent:
		return h, errWrongParent
	case !b.valid:
		return h, errInvalidBlock
	}
	return h, nil
}
