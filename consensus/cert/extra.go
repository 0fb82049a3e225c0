package cert

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// MaxValidators bounds the validator list an Extra may carry.
const MaxValidators = 1024

// ErrBadExtra is returned when a header's extra-data is not a valid Extra.
var ErrBadExtra = errors.New("cert: invalid header extra-data")

// Extra is the content of Header.Extra in every emcd block.
type Extra struct {
	// Validators is the validator set of the blocks that follow this one. It
	// is non-empty in the genesis block and in epoch-boundary blocks only.
	Validators []common.Address
	// ParentCommit is the commit certificate of the parent block (empty in
	// the genesis block).
	ParentCommit Certificate
}

// Encode returns the bytes to put into Header.Extra.
func (e *Extra) Encode() ([]byte, error) {
	b, err := rlp.EncodeToBytes(e)
	if err != nil {
		return nil, fmt.Errorf("cert: encode extra: %w", err)
	}
	return b, nil
}

// DecodeExtra parses Header.Extra. Empty extra-data decodes to an empty Extra.
func DecodeExtra(data []byte) (*Extra, error) {
	var e Extra
	if len(data) == 0 {
		return &e, nil
	}
	if err := rlp.DecodeBytes(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadExtra, err)
	}
	if len(e.Validators) > MaxValidators {
		return nil, fmt.Errorf("%w: %d validators", ErrBadExtra, len(e.Validators))
	}
	if len(e.ParentCommit.Seals) > MaxSeals {
		return nil, fmt.Errorf("%w: %d seals", ErrBadExtra, len(e.ParentCommit.Seals))
	}
	return &e, nil
}
