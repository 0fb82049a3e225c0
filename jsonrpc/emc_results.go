package jsonrpc

import (
	"context"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/emc-network/emcd/computing/results/fetch"
)

// ResultsBackend is the optional Backend capability behind emc_getResult:
// a router's results relay (computing/results/fetch).
type ResultsBackend interface {
	// Result fetches a small file (or the record, path "") of job id from
	// the node that ran it, verified; or an error saying why not.
	Result(ctx context.Context, id uint64, path string, auth fetch.Auth) (*fetch.SmallFile, error)
}

// errNoRelay is emc_getResult's error on a backend without a relay.
var errNoRelay = errors.New("emc_getResult is served by router nodes only")

// SignedResultRequest is the submitter's authorisation (fetch.Auth): a
// signature over (chain id, job id, path, expiry), see fetch.Digest.
type SignedResultRequest struct {
	Expiry    hexutil.Uint64 `json:"expiry"`
	Signature hexutil.Bytes  `json:"signature"`
}

// ResultFile is emc_getResult's answer: the verified bytes (base64) with
// their size and sha256 (the record hash for the record).
type ResultFile struct {
	ID     hexutil.Uint64 `json:"id"`
	Path   string         `json:"path"`
	Size   hexutil.Uint64 `json:"size"`
	SHA256 common.Hash    `json:"sha256"`
	Data   []byte         `json:"data"`
}

// resultError carries the relay's refusal code (fetch.ErrorStatus) as the
// error's data, e.g. "not_submitter", "not_finished", "mismatch".
type resultError struct {
	msg  string
	code string
}

func (e *resultError) Error() string          { return e.msg }
func (e *resultError) ErrorCode() int         { return codeDefault }
func (e *resultError) ErrorData() interface{} { return e.code }

// GetResult fetches path of job id (the record when path is "") through
// this router from the compute node that ran it, for files up to the
// relay's cap (4 MiB by default; larger ones over HTTP GET
// /results/{id}/files/{path}). The record is checked against the record
// hash on chain and a file against the record before anything is returned.
func (api *emcAPI) GetResult(ctx context.Context, id hexutil.Uint64, path string, req SignedResultRequest) (*ResultFile, error) {
	rb, ok := api.b.(ResultsBackend)
	if !ok {
		return nil, errNoRelay
	}
	f, err := rb.Result(ctx, uint64(id), path, fetch.Auth{Expiry: uint64(req.Expiry), Sig: req.Signature})
	if err != nil {
		_, code := fetch.ErrorStatus(err)
		return nil, &resultError{msg: err.Error(), code: code}
	}
	return &ResultFile{ID: id, Path: path, Size: hexutil.Uint64(f.Size), SHA256: f.SHA256, Data: f.Data}, nil
}
