package instance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/p2p"
)

// The receipt frame (metering, issue 13 part 4): after a response body's
// end frame, a node that meters sends one more frame before it closes the
// stream, its usage receipt for the call:
//
//	offset  size  field
//	0       1     version: ReceiptFrameVersion (1), or ReceiptFrameVersionSync (2)
//	1       105   the receipt body (apps.Receipt.EncodeBody)
//	106     65    the node's signature (apps.SignReceipt, apps.RoleNode)
//	171     8     version 2 only: the sync token the node's meter follows
//	              (big-endian, non-zero; see RequestHeader.SyncToken)
//
// A node whose meter never took a sync sends version 1 (token 0). A router
// that reads the end of the stream instead of a receipt frame takes the
// call as unmetered (a node that does not meter).
const (
	// ReceiptFrameVersion is the first byte of a receipt frame without a
	// sync token.
	ReceiptFrameVersion = 1
	// ReceiptFrameVersionSync is the first byte of one with a sync token.
	ReceiptFrameVersionSync = 2
	// ReceiptFrameLen is the length of a version 1 receipt frame.
	ReceiptFrameLen = 1 + apps.ReceiptBodyLen + apps.SigLen
	// ReceiptFrameSyncLen is the length of a version 2 receipt frame.
	ReceiptFrameSyncLen = ReceiptFrameLen + 8
)

// NodeReceipt is a receipt body with the node's signature only, and the
// sync token of the node's meter (0: none).
type NodeReceipt struct {
	apps.Receipt
	NodeSig [apps.SigLen]byte
	Token   uint64
}

// EncodeReceiptFrame returns the frame body of r (version 1 when r.Token
// is 0, else version 2).
func EncodeReceiptFrame(r *NodeReceipt) []byte {
	if r.Token == 0 {
		out := make([]byte, 0, ReceiptFrameLen)
		out = append(out, ReceiptFrameVersion)
		out = append(out, r.EncodeBody()...)
		return append(out, r.NodeSig[:]...)
	}
	out := make([]byte, 0, ReceiptFrameSyncLen)
	out = append(out, ReceiptFrameVersionSync)
	out = append(out, r.EncodeBody()...)
	out = append(out, r.NodeSig[:]...)
	return binary.BigEndian.AppendUint64(out, r.Token)
}

// DecodeReceiptFrame decodes a receipt frame: its length, version, the
// body's canonical form and, in version 2, a non-zero token (who signed
// is the router's check).
func DecodeReceiptFrame(b []byte) (*NodeReceipt, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty receipt frame", ErrMalformed)
	}
	want := 0
	switch b[0] {
	case ReceiptFrameVersion:
		want = ReceiptFrameLen
	case ReceiptFrameVersionSync:
		want = ReceiptFrameSyncLen
	default:
		return nil, fmt.Errorf("%w: receipt frame version %d, want %d or %d", ErrMalformed, b[0], ReceiptFrameVersion, ReceiptFrameVersionSync)
	}
	if len(b) != want {
		return nil, fmt.Errorf("%w: receipt frame version %d of %d bytes, want %d", ErrMalformed, b[0], len(b), want)
	}
	body, err := apps.DecodeBody(b[1 : 1+apps.ReceiptBodyLen])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	r := &NodeReceipt{Receipt: body}
	copy(r.NodeSig[:], b[1+apps.ReceiptBodyLen:ReceiptFrameLen])
	if b[0] == ReceiptFrameVersionSync {
		if r.Token = binary.BigEndian.Uint64(b[ReceiptFrameLen:]); r.Token == 0 {
			return nil, fmt.Errorf("%w: receipt frame version 2 with token 0", ErrMalformed)
		}
	}
	return r, nil
}

// ReadReceiptFrame reads what follows a response body's end frame: a
// receipt frame, or nil when the stream ends there (an unmetered call).
func ReadReceiptFrame(r *bufio.Reader) (*NodeReceipt, error) {
	b, err := p2p.ReadFrame(r, ReceiptFrameSyncLen)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("instance: receipt frame: %w", err)
	}
	return DecodeReceiptFrame(b)
}

// Receipts signs a node's usage receipts: the node's side of metering.
// Receipt is called once per call the app answered in whole, after the
// body's end frame, and returns the receipt that adds the call to the
// instance's cumulative usage. It must be safe for concurrent use; the
// receipts of one instance are numbered in the order of these calls.
type Receipts interface {
	Receipt(c Call) (*NodeReceipt, error)
}
