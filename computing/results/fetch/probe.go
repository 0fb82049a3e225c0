package fetch

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/p2p"
)

// The probe protocol (ProbeSpec: /emcd/<chain>/results-probe/1) is how a
// validator reaches a router's relay: routers are known on chain by their
// peer id only. One [Request] in the probe form for the record, one
// [Response] carrying the whole record (Data) and the chain's record hash
// (SHA256), fetched by the relay from the compute node and checked
// against the chain exactly as for a submitter ([Relay.Copy]). A request
// that is not a probe is refused (CodeNotProber): submitters use the
// HTTP surface.

// DefaultProbeTimeout bounds one probe exchange: the relay pulls the
// record from the node (each chunk within DefaultChunkTimeout) before it
// answers.
const DefaultProbeTimeout = 2 * DefaultChunkTimeout

// ProbeSpec is the probe protocol's p2p.Spec on a chain (timeout 0:
// DefaultProbeTimeout).
func ProbeSpec(names p2p.Names, timeout time.Duration) p2p.Spec {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	return p2p.Spec{ID: names.Prefix() + "/results-probe/1", MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: timeout}
}

// RegisterProbe serves the probe protocol on srv.
func (r *Relay) RegisterProbe(srv p2p.Server, spec p2p.Spec) error {
	if err := srv.Handle(spec, r.HandleProbe); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// HandleProbe answers one probe: the record through the relay, or a
// refusal with its code.
func (r *Relay) HandleProbe(ctx context.Context, from p2p.PeerID, data []byte) ([]byte, error) {
	resp := r.answerProbe(ctx, data)
	if resp.Code != CodeOK {
		r.log.Debug("probe refused", "peer", from.ShortString(), "code", resp.Code, "reason", resp.Message)
	}
	return resp.Encode()
}

func (r *Relay) answerProbe(ctx context.Context, data []byte) *Response {
	req, err := DecodeRequest(data)
	if err != nil {
		return &Response{Code: CodeMalformed, Message: err.Error()}
	}
	if !req.Auth.Probe || req.Offset != 0 {
		return &Response{Code: CodeNotProber, Message: "the probe protocol serves probes of the record only"}
	}
	var buf bytes.Buffer
	var file File
	err = r.Copy(ctx, req.JobID, RecordPath, req.Auth, &buf, func(f File) error { file = f; return nil })
	if err != nil {
		return &Response{Code: codeOf(err), Message: err.Error()}
	}
	return &Response{Size: uint64(buf.Len()), SHA256: file.SHA256, Data: buf.Bytes()}
}

// ProbeRecord asks router's relay over req for the record of job id with
// a probe authorisation (SignProbe) and checks it against onChain, the
// record hash on chain: it returns the record only when it arrived whole
// and hashes to onChain. A refusal is a *RefusedError.
func ProbeRecord(ctx context.Context, req p2p.Requester, spec p2p.Spec, router p2p.PeerID, id uint64, auth Auth, onChain common.Hash) ([]byte, error) {
	data, err := (&Request{JobID: id, Path: RecordPath, Auth: auth}).Encode()
	if err != nil {
		return nil, err
	}
	raw, err := req.Request(ctx, router, spec, data)
	if err != nil {
		return nil, fmt.Errorf("%w: router %s: %w", ErrUnreachable, router.ShortString(), err)
	}
	resp, err := DecodeResponse(raw)
	if err != nil {
		return nil, err
	}
	if resp.Size != uint64(len(resp.Data)) {
		return nil, fmt.Errorf("%w: router sent %d of %d bytes of the record", ErrMismatch, len(resp.Data), resp.Size)
	}
	if _, err := CheckRecord(onChain, resp.Data); err != nil {
		return nil, err
	}
	return resp.Data, nil
}
