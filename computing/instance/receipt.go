package instance

import (
	"bufio"
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
//	0       1     ReceiptFrameVersion (1)
//	1       105   the receipt body (apps.Receipt.EncodeBody)
//	106     65    the node's signature (apps.SignReceipt, apps.RoleNode)
//
// A router that reads the end of the stream instead of a receipt frame
// takes the call as unmetered (a node that does not meter).
const (
	// ReceiptFrameVersion is the receipt frame's first byte.
	ReceiptFrameVersion = 1
	// ReceiptFrameLen is the length of a receipt frame.
	ReceiptFrameLen = 1 + apps.ReceiptBodyLen + apps.SigLen
)

// NodeReceipt is a receipt body with the node's signature only.
type NodeReceipt struct {
	apps.Receipt
	NodeSig [apps.SigLen]byte
}

// EncodeReceiptFrame returns the frame body of r.
func EncodeReceiptFrame(r *NodeReceipt) []byte {
	out := make([]byte, 0, ReceiptFrameLen)
	out = append(out, ReceiptFrameVersion)
	out = append(out, r.EncodeBody()...)
	return append(out, r.NodeSig[:]...)
}

// DecodeReceiptFrame decodes a receipt frame: its length, version and the
// body's canonical form (who signed is the router's check).
func DecodeReceiptFrame(b []byte) (*NodeReceipt, error) {
	if len(b) != ReceiptFrameLen {
		return nil, fmt.Errorf("%w: receipt frame of %d bytes, want %d", ErrMalformed, len(b), ReceiptFrameLen)
	}
	if b[0] != ReceiptFrameVersion {
		return nil, fmt.Errorf("%w: receipt frame version %d, want %d", ErrMalformed, b[0], ReceiptFrameVersion)
	}
	body, err := apps.DecodeBody(b[1 : 1+apps.ReceiptBodyLen])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	r := &NodeReceipt{Receipt: body}
	copy(r.NodeSig[:], b[1+apps.ReceiptBodyLen:])
	return r, nil
}

// ReadReceiptFrame reads what follows a response body's end frame: a
// receipt frame, or nil when the stream ends there (an unmetered call).
func ReadReceiptFrame(r *bufio.Reader) (*NodeReceipt, error) {
	b, err := p2p.ReadFrame(r, ReceiptFrameLen)
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
