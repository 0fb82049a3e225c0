package apps

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

// Usage receipts (see the package doc, "Metering").
//
// A receipt is cumulative: receipt n states everything served on an
// instance from its start through call n, so one signature covers
// everything before it, a later receipt supersedes every earlier one, and
// settlement needs only the newest.
//
// Canonical encoding of the body, ReceiptBodyLen (105) bytes, integers
// big-endian:
//
//	offset  size  field
//	0       1     version           ReceiptVersion (1)
//	1       8     chainId           EIP-155 chain id
//	9       8     instance          instance id (apps module)
//	17      8     seq               sequence number n ≥ 1, +1 per receipt
//	25      8     calls             cumulative calls served
//	33      8     gpuMillis         cumulative GPU-milliseconds (GPUs × ms)
//	41      32    chargeWei         cumulative charge in wei, [Charge] of
//	                                calls and gpuMillis at the app's prices
//	73      32    callsHash         h_n of the request chain (below)
//
// The signed receipt is body ‖ nodeSig ‖ routerSig (ReceiptLen, 235
// bytes): two 65-byte secp256k1 signatures [R ‖ S ‖ V], V in {0, 1}, S in
// the lower half of the curve order (geth crypto.Sign's form), over
// [ReceiptDigest] of the body with the signer's role: RoleNode for the
// account that owns the node running the instance, RoleRouter for the
// router the instance was placed by. The role byte makes a node signature
// unusable as a router signature even under the same key.
//
// Request chain: h_0 = [ChainStart](chainId, instance); for call n,
// h_n = keccak256(h_{n-1} ‖ [RequestDigest](method, path, sha256(body))).
// A user who keeps the requests they made (or their digests) recomputes
// h_n and checks it against the receipt returned with call n.
const (
	// ReceiptVersion is the body's first byte.
	ReceiptVersion = 1
	// ReceiptBodyLen is the length of an encoded body.
	ReceiptBodyLen = 1 + 5*8 + 32 + 32
	// SigLen is the length of one signature.
	SigLen = crypto.SignatureLength
	// ReceiptLen is the length of a signed receipt.
	ReceiptLen = ReceiptBodyLen + 2*SigLen
)

// Signing roles of a receipt digest.
const (
	RoleNode   byte = 1
	RoleRouter byte = 2
)

// receiptDomain separates receipt digests from every other signature the
// same keys make.
const receiptDomain = "emcd:appUsageReceipt:v1"

// chainDomain seeds each instance's request chain.
const chainDomain = "emcd:appCalls:v1"

// Receipt errors. Decoding and verification errors wrap ErrBadReceipt.
var (
	// ErrBadReceipt is returned for bytes that are not a canonical,
	// well-signed receipt.
	ErrBadReceipt = errors.New("apps: bad usage receipt")
	// ErrChargeOverflow is returned by [Charge] when the charge does not
	// fit in 256 bits.
	ErrChargeOverflow = errors.New("apps: charge overflows 256 bits")
)

// Receipt is the body of a usage receipt.
type Receipt struct {
	ChainID   uint64
	Instance  uint64
	Seq       uint64
	Calls     uint64
	GPUMillis uint64
	ChargeWei uint256.Int
	CallsHash common.Hash
}

// SignedReceipt is a receipt with its node and router signatures.
type SignedReceipt struct {
	Receipt
	NodeSig   [SigLen]byte
	RouterSig [SigLen]byte
}

// EncodeBody returns the canonical encoding of r.
func (r *Receipt) EncodeBody() []byte {
	b := make([]byte, ReceiptBodyLen)
	b[0] = ReceiptVersion
	binary.BigEndian.PutUint64(b[1:], r.ChainID)
	binary.BigEndian.PutUint64(b[9:], r.Instance)
	binary.BigEndian.PutUint64(b[17:], r.Seq)
	binary.BigEndian.PutUint64(b[25:], r.Calls)
	binary.BigEndian.PutUint64(b[33:], r.GPUMillis)
	c := r.ChargeWei.Bytes32()
	copy(b[41:73], c[:])
	copy(b[73:105], r.CallsHash[:])
	return b
}

// DecodeBody decodes a canonical body. Every 105-byte string with the
// right version decodes, and encodes back to itself.
func DecodeBody(b []byte) (Receipt, error) {
	if len(b) != ReceiptBodyLen {
		return Receipt{}, fmt.Errorf("%w: body is %d bytes, want %d", ErrBadReceipt, len(b), ReceiptBodyLen)
	}
	if b[0] != ReceiptVersion {
		return Receipt{}, fmt.Errorf("%w: version %d, want %d", ErrBadReceipt, b[0], ReceiptVersion)
	}
	var r Receipt
	r.ChainID = binary.BigEndian.Uint64(b[1:])
	r.Instance = binary.BigEndian.Uint64(b[9:])
	r.Seq = binary.BigEndian.Uint64(b[17:])
	r.Calls = binary.BigEndian.Uint64(b[25:])
	r.GPUMillis = binary.BigEndian.Uint64(b[33:])
	r.ChargeWei.SetBytes32(b[41:73])
	copy(r.CallsHash[:], b[73:105])
	return r, nil
}

// Encode returns body ‖ nodeSig ‖ routerSig.
func (s *SignedReceipt) Encode() []byte {
	out := make([]byte, 0, ReceiptLen)
	out = append(out, s.EncodeBody()...)
	out = append(out, s.NodeSig[:]...)
	return append(out, s.RouterSig[:]...)
}

// DecodeSignedReceipt decodes a signed receipt. It checks the layout and
// the signatures' form (canonical R, S, V), not who signed: see
// [SignedReceipt.Signers].
func DecodeSignedReceipt(b []byte) (SignedReceipt, error) {
	if len(b) != ReceiptLen {
		return SignedReceipt{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadReceipt, len(b), ReceiptLen)
	}
	r, err := DecodeBody(b[:ReceiptBodyLen])
	if err != nil {
		return SignedReceipt{}, err
	}
	s := SignedReceipt{Receipt: r}
	copy(s.NodeSig[:], b[ReceiptBodyLen:ReceiptBodyLen+SigLen])
	copy(s.RouterSig[:], b[ReceiptBodyLen+SigLen:])
	for _, sig := range [][SigLen]byte{s.NodeSig, s.RouterSig} {
		if err := checkSigForm(sig); err != nil {
			return SignedReceipt{}, err
		}
	}
	return s, nil
}

func checkSigForm(sig [SigLen]byte) error {
	if !canonicalSig(sig) {
		return fmt.Errorf("%w: signature not in canonical form", ErrBadReceipt)
	}
	return nil
}

// canonicalSig reports whether sig is a 65-byte [R ‖ S ‖ V] signature with
// V in {0, 1} and R, S in range, S in the lower half of the curve order.
func canonicalSig(sig [SigLen]byte) bool {
	rr := new(uint256.Int).SetBytes32(sig[:32]).ToBig()
	ss := new(uint256.Int).SetBytes32(sig[32:64]).ToBig()
	return sig[64] <= 1 && crypto.ValidateSignatureValues(sig[64], rr, ss, true)
}

// ReceiptDigest is the hash a signer of role signs: keccak256(domain ‖
// role ‖ body).
func ReceiptDigest(role byte, body []byte) common.Hash {
	return crypto.Keccak256Hash([]byte(receiptDomain), []byte{role}, body)
}

// SignReceipt signs r as role with key.
func SignReceipt(r *Receipt, role byte, key *ecdsa.PrivateKey) ([SigLen]byte, error) {
	var out [SigLen]byte
	d := ReceiptDigest(role, r.EncodeBody())
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return out, fmt.Errorf("apps: sign receipt: %w", err)
	}
	copy(out[:], sig)
	return out, nil
}

// Signers recovers the accounts that signed s as node and as router. Its
// errors wrap ErrBadReceipt and name the signature that failed.
func (s *SignedReceipt) Signers() (node, router common.Address, err error) {
	body := s.EncodeBody()
	node, err = recoverSigner(ReceiptDigest(RoleNode, body), s.NodeSig)
	if err != nil {
		return common.Address{}, common.Address{}, fmt.Errorf("%w: node signature: %w", ErrBadReceipt, err)
	}
	router, err = recoverSigner(ReceiptDigest(RoleRouter, body), s.RouterSig)
	if err != nil {
		return common.Address{}, common.Address{}, fmt.Errorf("%w: router signature: %w", ErrBadReceipt, err)
	}
	return node, router, nil
}

// recoverSigner recovers the account that signed d. A canonical signature
// can still fail to recover: an R that is no curve point's x.
func recoverSigner(d common.Hash, sig [SigLen]byte) (common.Address, error) {
	if !canonicalSig(sig) {
		return common.Address{}, errors.New("not in canonical form")
	}
	pub, err := crypto.SigToPub(d[:], sig[:])
	if err != nil {
		return common.Address{}, err
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// Verify checks that s is for chainID and instance and is signed by node
// (as RoleNode) and router (as RoleRouter), and that its charge is the
// price of its usage. It is what the module checks of every receipt,
// besides the instance's settlement state.
func (s *SignedReceipt) Verify(chainID, instance uint64, node, router common.Address, perCall, perGPUSecond *uint256.Int) error {
	if s.ChainID != chainID {
		return fmt.Errorf("%w: chain id %d, want %d", ErrBadReceipt, s.ChainID, chainID)
	}
	if s.Instance != instance {
		return fmt.Errorf("%w: instance %d, want %d", ErrBadReceipt, s.Instance, instance)
	}
	if s.Seq == 0 {
		return fmt.Errorf("%w: sequence 0", ErrBadReceipt)
	}
	want, err := Charge(perCall, perGPUSecond, s.Calls, s.GPUMillis)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if !want.Eq(&s.ChargeWei) {
		return fmt.Errorf("%w: charge %s wei, the prices give %s", ErrBadReceipt, &s.ChargeWei, want)
	}
	n, r, err := s.Signers()
	if err != nil {
		return err
	}
	if n != node {
		return fmt.Errorf("%w: node signature by %s, want %s", ErrBadReceipt, n, node)
	}
	if r != router {
		return fmt.Errorf("%w: router signature by %s, want %s", ErrBadReceipt, r, router)
	}
	return nil
}

// Charge is the cumulative charge of calls and gpuMillis at the prices:
// perCall × calls + floor(perGPUSecond × gpuMillis / 1000). Rounding is
// applied to the cumulative total only, so the sum of the charges settled
// piecewise equals the charge of the whole, to the wei.
func Charge(perCall, perGPUSecond *uint256.Int, calls, gpuMillis uint64) (*uint256.Int, error) {
	a, o1 := new(uint256.Int).MulOverflow(perCall, new(uint256.Int).SetUint64(calls))
	b, o2 := new(uint256.Int).MulOverflow(perGPUSecond, new(uint256.Int).SetUint64(gpuMillis))
	if o1 || o2 {
		return nil, ErrChargeOverflow
	}
	b.Div(b, uint256.NewInt(1000))
	sum, o3 := new(uint256.Int).AddOverflow(a, b)
	if o3 {
		return nil, ErrChargeOverflow
	}
	return sum, nil
}

// EpochShift places an instance's placement epoch (Instance.Restarts) in
// the top bits of its receipts' sequence numbers: the receipts of epoch e
// are numbered from [EpochSeq](e) + 1, and settle refuses a receipt of
// another epoch than the instance's. A restart so makes the receipts the
// dead placement's node and router signed worthless (even when the
// instance comes back to the same node and router), and the new
// placement's receipts cannot be taken for them.
const EpochShift = 48

// EpochSeq is the sequence number a placement epoch's receipts follow.
func EpochSeq(restarts uint8) uint64 { return uint64(restarts) << EpochShift }

// EpochChainStart is h_0 of the request chain of placement epoch
// restarts: [ChainStart] for the first placement, else keccak256(domain
// ‖ chainId ‖ instance ‖ restarts) (a user who audits restarts their
// chain when the instance restarts).
func EpochChainStart(chainID, instance uint64, restarts uint8) common.Hash {
	if restarts == 0 {
		return ChainStart(chainID, instance)
	}
	var b [17]byte
	binary.BigEndian.PutUint64(b[:8], chainID)
	binary.BigEndian.PutUint64(b[8:16], instance)
	b[16] = restarts
	return crypto.Keccak256Hash([]byte(chainDomain), b[:])
}

// ChainStart is h_0 of an instance's request chain.
func ChainStart(chainID, instance uint64) common.Hash {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], chainID)
	binary.BigEndian.PutUint64(b[8:], instance)
	return crypto.Keccak256Hash([]byte(chainDomain), b[:])
}

// RequestDigest is the digest of one call: keccak256(len(method) (2
// bytes) ‖ method ‖ len(path) (4 bytes) ‖ path ‖ bodySHA256), where path
// is the path below /apps/<instance> with its query, as relayed. Lengths
// above the prefix widths are clamped (a relay refuses such requests
// long before).
func RequestDigest(method, path string, bodySHA256 [32]byte) common.Hash {
	ml := min(len(method), math.MaxUint16)
	pl := min(len(path), math.MaxUint32)
	buf := make([]byte, 0, 2+ml+4+pl+32)
	buf = binary.BigEndian.AppendUint16(buf, uint16(ml))
	buf = append(buf, method[:ml]...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(pl))
	buf = append(buf, path[:pl]...)
	buf = append(buf, bodySHA256[:]...)
	return crypto.Keccak256Hash(buf)
}

// NextCallsHash is h_n from h_{n-1} and call n's request digest.
func NextCallsHash(prev, request common.Hash) common.Hash {
	return crypto.Keccak256Hash(prev[:], request[:])
}

// Meter is the running cumulative usage of one instance, from which a
// node (or a router, or an auditing user) derives each call's receipt.
// It is not safe for concurrent use: calls on one instance are ordered by
// whoever meters them.
type Meter struct {
	cur          Receipt
	perCall      uint256.Int
	perGPUSecond uint256.Int
}

// NewMeter starts the meter of instance at its first call.
func NewMeter(chainID, instance uint64, perCall, perGPUSecond *uint256.Int) *Meter {
	m := &Meter{cur: Receipt{ChainID: chainID, Instance: instance, CallsHash: ChainStart(chainID, instance)}}
	m.perCall.Set(perCall)
	m.perGPUSecond.Set(perGPUSecond)
	return m
}

// Call adds one call (its request digest and the GPU-milliseconds it
// used) and returns the receipt body that covers it.
func (m *Meter) Call(request common.Hash, gpuMillis uint64) (Receipt, error) {
	next := m.cur
	if next.Seq == math.MaxUint64 || next.Calls == math.MaxUint64 || next.GPUMillis > math.MaxUint64-gpuMillis {
		return Receipt{}, fmt.Errorf("%w: usage counters overflow", ErrBadReceipt)
	}
	next.Seq++
	next.Calls++
	next.GPUMillis += gpuMillis
	next.CallsHash = NextCallsHash(next.CallsHash, request)
	c, err := Charge(&m.perCall, &m.perGPUSecond, next.Calls, next.GPUMillis)
	if err != nil {
		return Receipt{}, err
	}
	next.ChargeWei = *c
	m.cur = next
	return next, nil
}

// Last returns the newest receipt body (Seq 0 before the first call).
func (m *Meter) Last() Receipt { return m.cur }

// SettledReceipt is the body of the newest receipt settled for in (as
// the chain keeps its counters), the point a meter restarted after a
// crash, or started by a restarted instance's new placement, resumes
// from; Seq 0 (nothing settled) is the chain's start. For a restarted
// instance with nothing settled in its epoch it is the epoch's start:
// sequence [EpochSeq], [EpochChainStart], the settled counters.
func SettledReceipt(chainID uint64, in *Instance, perCall, perGPUSecond *uint256.Int) (Receipt, error) {
	r := Receipt{ChainID: chainID, Instance: in.ID, Seq: in.Seq, Calls: in.Calls, GPUMillis: in.GPUMillis, CallsHash: in.CallsHash}
	if in.Seq == 0 && in.Restarts == 0 {
		r.CallsHash = ChainStart(chainID, in.ID)
		return r, nil
	}
	if base := EpochSeq(in.Restarts); in.Seq < base {
		// Restarted, nothing settled in this epoch yet: the counters go
		// on from what was settled, the sequence and the request chain
		// start the epoch's.
		r.Seq, r.CallsHash = base, EpochChainStart(chainID, in.ID, in.Restarts)
	}
	c, err := Charge(perCall, perGPUSecond, in.Calls, in.GPUMillis)
	if err != nil {
		return Receipt{}, err
	}
	r.ChargeWei = *c
	return r, nil
}

// ResumeMeter is a meter whose next call follows last (from
// [SettledReceipt]; a zero last is [NewMeter]).
func ResumeMeter(last Receipt, perCall, perGPUSecond *uint256.Int) *Meter {
	if last.Seq == 0 {
		return NewMeter(last.ChainID, last.Instance, perCall, perGPUSecond)
	}
	m := &Meter{cur: last}
	m.perCall.Set(perCall)
	m.perGPUSecond.Set(perGPUSecond)
	return m
}

// ResyncBase is the receipt a node's meter restarts from when the router
// asks it to resync (see router/relay's Countersigner): base, the
// router's newest countersigned receipt (empty: none), when it is newer
// than settled (the chain's newest settled, [SettledReceipt]), else
// settled. base must be for chainID and instance, signed by node (the
// node's own account) and router (the instance's router), and priced at
// the app's prices: the node never adopts counters it did not sign itself
// and the router did not countersign.
func ResyncBase(base []byte, settled Receipt, node, router common.Address, perCall, perGPUSecond *uint256.Int) (Receipt, error) {
	if len(base) == 0 {
		return settled, nil
	}
	s, err := DecodeSignedReceipt(base)
	if err != nil {
		return Receipt{}, err
	}
	if err := s.Verify(settled.ChainID, settled.Instance, node, router, perCall, perGPUSecond); err != nil {
		return Receipt{}, err
	}
	if s.Seq <= settled.Seq {
		return settled, nil
	}
	return s.Receipt, nil
}
