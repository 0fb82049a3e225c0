package inventory

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/registry"
)

// Errors of Summarize and ParseOffer.
var (
	// ErrMixedGPUs is returned by Summarize for a host whose GPUs differ in
	// model: the registry takes one model per node.
	ErrMixedGPUs = errors.New("inventory: the registry takes one GPU model per node, and this host's GPUs differ")
	// ErrBadOffer is returned by ParseOffer for a price or digest that does
	// not parse, or an offer the registry would refuse.
	ErrBadOffer = errors.New("inventory: bad offer")
)

// Summary is the inventory summary a node registers.
type Summary struct {
	InventoryHash common.Hash `json:"inventoryHash"`
	GPUCount      uint32      `json:"gpuCount"`
	GPUModel      string      `json:"gpuModel"`
	MemoryMiB     uint64      `json:"memoryMiB"`
	Simulated     bool        `json:"simulated"`
}

func (s Summary) String() string {
	if s.GPUCount == 0 {
		return "no GPUs (CPU only)"
	}
	sim := ""
	if s.Simulated {
		sim = " (simulated)"
	}
	return fmt.Sprintf("%d × %s, %d MiB each%s", s.GPUCount, s.GPUModel, s.MemoryMiB, sim)
}

// Summarize turns an inventory into the registry's summary: the GPU count,
// the (single) model, the smallest memory per GPU in MiB (rounded down),
// whether any device is simulated, and keccak256 of the inventory's compact
// JSON (the inventory object of `emcd gpus --json`).
func Summarize(inv *gpu.Inventory) (Summary, error) {
	raw, err := json.Marshal(inv)
	if err != nil {
		return Summary{}, fmt.Errorf("inventory: encode: %w", err)
	}
	if len(inv.Devices) > registry.MaxGPUs {
		return Summary{}, fmt.Errorf("inventory: %d GPUs: the registry takes at most %d", len(inv.Devices), registry.MaxGPUs)
	}
	s := Summary{InventoryHash: crypto.Keccak256Hash(raw), GPUCount: uint32(len(inv.Devices))}
	for i, d := range inv.Devices {
		if i == 0 {
			s.GPUModel = d.Name
		} else if d.Name != s.GPUModel {
			return Summary{}, fmt.Errorf("%w: %q and %q", ErrMixedGPUs, s.GPUModel, d.Name)
		}
		if d.MemoryTotalBytes == nil {
			return Summary{}, fmt.Errorf("inventory: GPU %d (%s) reports no memory size", d.Index, d.Name)
		}
		mib := *d.MemoryTotalBytes >> 20 // rounds down
		if i == 0 || mib < s.MemoryMiB {
			s.MemoryMiB = mib
		}
		s.Simulated = s.Simulated || d.Simulated
	}
	if len(s.GPUModel) > registry.MaxModelBytes {
		return Summary{}, fmt.Errorf("inventory: GPU model %q is longer than the registry's %d bytes", s.GPUModel, registry.MaxModelBytes)
	}
	return s, nil
}

// Offer is what a node sells: wei per GPU-second per GPU model (Models[i]
// at PricesWei[i], in the order given), wei per second of a CPU-only job
// (zero: none taken) and the image digests it holds.
type Offer struct {
	Models      []string
	PricesWei   []*big.Int
	CPUPriceWei *big.Int
	Images      []common.Hash
}

// ParseOffer reads an operator's offer for a node with summary s. Each of
// prices is WEI (the price of s's GPU model) or MODEL=WEI; cpuPrice is a
// whole number of wei ("" is 0); each of images is sha256:HEX, 0xHEX or HEX
// (64 hex digits). A node with GPUs needs at least one price.
func ParseOffer(s Summary, prices []string, cpuPrice string, images []string) (Offer, error) {
	o := Offer{Models: []string{}, PricesWei: []*big.Int{}, Images: []common.Hash{}}
	for _, p := range prices {
		model, wei := s.GPUModel, p
		if i := strings.LastIndexByte(p, '='); i >= 0 {
			model, wei = p[:i], p[i+1:]
		} else if s.GPUCount == 0 {
			return Offer{}, fmt.Errorf("%w: price %q: this host has no GPUs to price", ErrBadOffer, p)
		}
		v, ok := new(big.Int).SetString(strings.TrimSpace(wei), 10)
		if !ok || v.Sign() <= 0 {
			return Offer{}, fmt.Errorf("%w: price %q: want a positive whole number of wei", ErrBadOffer, p)
		}
		o.Models, o.PricesWei = append(o.Models, strings.TrimSpace(model)), append(o.PricesWei, v)
	}
	if s.GPUCount > 0 && len(o.Models) == 0 {
		return Offer{}, fmt.Errorf("%w: a price per GPU-second is required for a node with GPUs (%s)", ErrBadOffer, s)
	}
	if cpuPrice == "" {
		cpuPrice = "0"
	}
	cpu, ok := new(big.Int).SetString(cpuPrice, 10)
	if !ok || cpu.Sign() < 0 {
		return Offer{}, fmt.Errorf("%w: CPU price %q: want a whole number of wei", ErrBadOffer, cpuPrice)
	}
	o.CPUPriceWei = cpu
	for _, d := range images {
		h, err := ParseDigest(d)
		if err != nil {
			return Offer{}, err
		}
		o.Images = append(o.Images, h)
	}
	if _, err := (Listing{Summary: s, Offer: o}).Record(); err != nil {
		return Offer{}, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	return o, nil
}

// ParseDigest accepts an image digest as sha256:HEX, 0xHEX or HEX (64 hex
// digits).
func ParseDigest(s string) (common.Hash, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"), "0x")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return common.Hash{}, fmt.Errorf("%w: image %q: want sha256:HEX, 0xHEX or HEX of 64 hex digits", ErrBadOffer, s)
	}
	return common.BytesToHash(b), nil
}

// Listing is a compute node's registration: its inventory summary and its
// offer.
type Listing struct {
	Summary
	Offer
}

// Sells reports whether the listing offers anything: GPUs (which always
// carry a price) or CPU-only jobs at a non-zero price.
func (l Listing) Sells() bool {
	return l.GPUCount > 0 || (l.CPUPriceWei != nil && l.CPUPriceWei.Sign() > 0)
}

// Args returns registerNode's arguments after peerId and peerSig, which are
// updateNode's: (inventoryHash, gpuCount, gpuModel, memoryMiB, simulated,
// priceModels, pricesWeiPerGpuSecond, cpuPriceWei, images).
func (l Listing) Args() []any {
	models, prices := l.Models, l.PricesWei
	if models == nil {
		models, prices = []string{}, []*big.Int{}
	}
	cpu := l.CPUPriceWei
	if cpu == nil {
		cpu = new(big.Int)
	}
	images := make([][32]byte, len(l.Images))
	for i, d := range l.Images {
		images[i] = d
	}
	return []any{[32]byte(l.InventoryHash), l.GPUCount, l.GPUModel, l.MemoryMiB, l.Simulated, models, prices, cpu, images}
}

// Record returns the node record the registry stores for this listing
// (without owner, peer ID and blocks), or the registry's refusal of every
// rule that does not depend on the chain.
func (l Listing) Record() (registry.Node, error) {
	return registry.DecodeNodeArgs(l.Args())
}

// Matches reports whether the registered node n holds exactly this
// listing's data (peer ID and blocks aside): a node whose registration
// matches sends no update.
func (l Listing) Matches(n *registry.Node) bool {
	want, err := l.Record()
	if err != nil {
		return false
	}
	want.PeerID, want.RegisteredBlock, want.UpdatedBlock = n.PeerID, n.RegisteredBlock, n.UpdatedBlock
	a, errA := registry.EncodeNode(&want)
	b, errB := registry.EncodeNode(n)
	return errA == nil && errB == nil && string(a) == string(b)
}
