package jsonrpc

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/consensus/cert"
)

// MaxSignersRange bounds the headers one emc_signers call reads
// (toBlock − fromBlock + 1): every seal of every certificate is recovered.
const MaxSignersRange = 1024

// Signers is emc_signers' answer: who signed the commit certificates that
// the headers fromBlock … toBlock carry (block h carries the certificate
// of block h−1; blocks 0 and 1 carry none). Certificates counts those read.
// Signers lists every validator of the certified blocks (and any sealer
// outside the set, which a valid chain never has), sorted by address:
// Eligible is how many of the certificates it could have signed (it was
// in the certified block's validator set), Signed how many it did.
type Signers struct {
	FromBlock    hexutil.Uint64 `json:"fromBlock"`
	ToBlock      hexutil.Uint64 `json:"toBlock"`
	Certificates hexutil.Uint64 `json:"certificates"`
	Signers      []SignerEntry  `json:"signers"`
}

// SignerEntry is one validator's count in emc_signers.
type SignerEntry struct {
	Address  common.Address `json:"address"`
	Signed   hexutil.Uint64 `json:"signed"`
	Eligible hexutil.Uint64 `json:"eligible"`
}

// Signers counts, per validator, the commit certificates it signed among
// those carried by the headers fromBlock … toBlock (tags resolve as in
// eth_getBlockByNumber). A range of more than MaxSignersRange headers, or
// one that ends before it starts, is invalid; then a toBlock above the head
// is clamped to it (a fromBlock above it is invalid).
func (api *emcAPI) Signers(ctx context.Context, fromBlock, toBlock rpc.BlockNumber) (*Signers, error) {
	from, ok := resolveNumber(api.b, fromBlock)
	if !ok {
		return nil, invalidParams("invalid fromBlock %d", fromBlock)
	}
	to, ok := resolveNumber(api.b, toBlock)
	if !ok {
		return nil, invalidParams("invalid toBlock %d", toBlock)
	}
	if to >= from && to-from+1 > MaxSignersRange {
		return nil, invalidParams("range of %d blocks: at most %d", to-from+1, MaxSignersRange)
	}
	to = min(to, api.b.CurrentHeader().Number.Uint64())
	if to < from {
		return nil, invalidParams("toBlock %d is before fromBlock %d (or past the head)", to, from)
	}
	counts := map[common.Address]*SignerEntry{}
	entry := func(a common.Address) *SignerEntry {
		e, ok := counts[a]
		if !ok {
			e = &SignerEntry{Address: a}
			counts[a] = e
		}
		return e
	}
	out := &Signers{FromBlock: hexutil.Uint64(from), ToBlock: hexutil.Uint64(to), Signers: []SignerEntry{}}
	for n := max(from, 2); n <= to; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := api.b.HeaderByNumber(n)
		if h == nil {
			return nil, fmt.Errorf("block %d: %w", n, ErrHeaderNotFound)
		}
		extra, err := cert.DecodeExtra(h.Extra)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", n, err)
		}
		// The certified block is n−1, whose set is the one in force after n−2.
		set, err := api.b.ValidatorsAfter(n - 2)
		if err != nil {
			return nil, fmt.Errorf("validators of block %d: %w", n-1, err)
		}
		sealers, err := extra.ParentCommit.Verify(h.ParentHash, set)
		if err != nil {
			return nil, fmt.Errorf("block %d: parent certificate: %w", n, err)
		}
		out.Certificates++
		for _, v := range set {
			entry(v).Eligible++
		}
		for _, s := range sealers {
			entry(s).Signed++
		}
	}
	for _, e := range counts {
		out.Signers = append(out.Signers, *e)
	}
	slices.SortFunc(out.Signers, func(a, b SignerEntry) int { return bytes.Compare(a.Address[:], b.Address[:]) })
	return out, nil
}
