package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "apps"

// Fixed rules.
const (
	// MaxAttempts is how many placements an instance gets before it is
	// closed (a node that misses its ready deadline, or is reaped before
	// ready, sends it back to the routers).
	MaxAttempts = 3
	// ProviderShareBps is the node's part of a charge after the royalty
	// (80 %); the rest is burned as native.BurnRent.
	ProviderShareBps = 8_000
	// MaxRoyaltyBps is 100 %.
	MaxRoyaltyBps = 10_000
	// MaxHours bounds a lease (one year).
	MaxHours = 24 * 366
	// MaxPage bounds one page of ids.
	MaxPage = 100
	// Text limits of an app, in bytes.
	MaxNameBytes        = 64
	MaxHealthPathBytes  = 256
	MaxDescriptionBytes = 1_024
	MaxParamsDocBytes   = 2_048
	// maxIDs bounds the ids (far beyond any chain's life).
	maxIDs = 1 << 62
)

// Gas of each method: the worst case under Cancun pricing, every slot
// touched cold (2,100) and every write fresh (20,000 + 2,100), logs 375 +
// 375 a topic + 8 a data byte, transfers 9,000.
const (
	instWriteGas = (maxInstRecordBytes/32 + 1) * 22_100
	instReadGas  = (maxInstRecordBytes/32 + 1) * 2_100
	appReadGas   = (maxAppRecordBytes/32 + 1) * 2_100
	// creditsGas: two Spends, a Release and the Credits escrow total.
	creditsGas = 2*credits.SpendGas + credits.ReleaseGas + 22_100
	// PublishGas: the count, the record's length and fixed fields (8
	// words), the AppPublished log without the name (3 topics, 224
	// bytes); the texts are charged per word by InputGas (22,100 a word
	// stored, 8 a byte of the name logged).
	PublishGas = 10*22_100 + 1_500 + 1_800
	// DeployGas: the app's record read, the instance record, the count,
	// instancesOf length and entry, escrow total, the due entry (length
	// and entry) and the expiry's refund that the hook may make (9,000 +
	// the Credits release), the InstanceDeployed log (4 topics, 192
	// bytes) 3,411; for Credits the Lock.
	DeployGas = appReadGas + instWriteGas + 7*22_100 + 9_000 + 3_411 + credits.LockGas + creditsGas + listAddGas + listRemoveGas
	// PlaceGas: record read and rewrite; the router check (registry and
	// staking, 6 slots); the node record (registry.MaxRecordWords + 2
	// words read); the app's image (its record); instancesOnNode length
	// and entry; due entries now and for a reopen (4 × 22,100); the
	// InstancePlaced log (4 topics, 32 bytes) 2,131.
	PlaceGas = 2*instReadGas + instWriteGas + 6*2_100 + (registry.MaxRecordWords+2)*2_100 + appReadGas + 6*22_100 + 2_131 +
		listAddGas + 2*listRemoveGas
	// ReadyGas: record read and rewrite, the due entry and two
	// rescheduled checks should blocks run faster than the target period
	// (6 × 22,100), the lease end's ending and closing (their due
	// entries, the refund) 2 × 22,100 + 9,000 + creditsGas; the log (3
	// topics, 32 bytes) 1,756.
	ReadyGas = instReadGas + instWriteGas + 8*22_100 + 9_000 + creditsGas + 1_756
	// StopGas: record read and rewrite, escrow total, the refund, the
	// due entry of the settlement window (2 × 22,100), the log (2
	// topics, 64 bytes) 1,637, the close the hook makes (creditsGas).
	StopGas = instReadGas + instWriteGas + 4*22_100 + 9_000 + creditsGas + 1_637 + listRemoveGas
	// ReapGas: StopGas and the node's record and ping (registry); a
	// restart's longer log (3 topics, 64 bytes) 375 more.
	ReapGas = StopGas + (registry.MaxRecordWords+3)*2_100 + 2*22_100 + listAddGas + 375
	// SetRestartGas: record read and rewrite, the log (2 topics, 32
	// bytes) 1,381.
	SetRestartGas = instReadGas + instWriteGas + 1_381
	// SettleGas: record read and rewrite, the app's record, three
	// signature recoveries' worth (ecrecover 3,000 each), escrow total,
	// the supply ledger (2 slots), two transfers 18,000, the log (3
	// topics, 224 bytes) 2,917; Credits: the two Spends.
	SettleGas = instReadGas + instWriteGas + appReadGas + 2*3_000 + 3*22_100 + 18_000 + 2_917 + creditsGas
	// ViewGas is the base of every view: one cold slot 2,100 + 100.
	ViewGas = 2_200
	// PageGasPerItem is a page's cost per returned id.
	PageGasPerItem = 2_100
	// listAddGas: a deployed-list addition (index read, entry, index and
	// length written fresh); listRemoveGas: a removal (index, length and
	// the last entry read, 5 writes).
	listAddGas    = 2_100 + 3*22_100
	listRemoveGas = 3*2_100 + 5*22_100
)

// Revert reasons.
var (
	ErrNoApp = errors.New("apps: no such app")
	// ErrNoInstance is returned for an id no instance has.
	ErrNoInstance = errors.New("apps: no such instance")
	// ErrBadApp is returned by publishApp for a bad field (zero image,
	// port 0, a text too long or not printable, no price).
	ErrBadApp = errors.New("apps: bad app")
	// ErrBadRoyalty is returned by publishApp for a royalty above 100 %.
	ErrBadRoyalty = errors.New("apps: royalty above 10000 basis points")
	// ErrBadLease is returned by deploy for hours 0 or above MaxHours, or
	// GPUs above registry.MaxGPUs, or a zero API key hash.
	ErrBadLease = errors.New("apps: bad lease")
	// ErrNoEscrow is returned by deploy without value and deployCredits
	// without Credits.
	ErrNoEscrow = errors.New("apps: escrow (the call's value, or the Credits) must be positive")
	// ErrNoCredits is returned by deployCredits on a chain whose apps
	// module was built without the credits module.
	ErrNoCredits = errors.New("apps: Credits escrow is not available on this chain")
	// ErrWrongState is returned when the instance is not in the state the
	// method needs.
	ErrWrongState = errors.New("apps: instance is not in the required state")
	// ErrNotRouter is returned by place from an account that is not an
	// active router.
	ErrNotRouter = errors.New("apps: caller is not an active router")
	// ErrNodeUnfit is returned by place for a node that is not
	// registered, not live, lacks the image or the GPUs.
	ErrNodeUnfit = errors.New("apps: node does not fit the instance")
	// ErrSelfDealing is returned by place when the router, the node and
	// the owner are not three different accounts.
	ErrSelfDealing = errors.New("apps: router, node and owner must be different accounts")
	// ErrNotNode is returned by ready from anyone but the placed node.
	ErrNotNode = errors.New("apps: caller is not the instance's node")
	// ErrNotOwner is returned by stop from anyone but the owner.
	ErrNotOwner = errors.New("apps: only the instance's owner may stop it")
	// ErrNotRestartOwner is returned by setRestart from anyone but the
	// owner.
	ErrNotRestartOwner = errors.New("apps: only the instance's owner may set its restart")
	// ErrDeadline is returned by ready after its deadline.
	ErrDeadline = errors.New("apps: deadline passed")
	// ErrNodeAlive is returned by reap for a node seen within the window.
	ErrNodeAlive = errors.New("apps: node is live")
	// ErrStaleReceipt is returned by settle for a receipt whose sequence
	// is not above the last settled one, or whose counters went down.
	ErrStaleReceipt = errors.New("apps: receipt is not newer than the last settled one")
	// ErrUsage is returned by settle for GPU time above the lease's GPUs
	// × the time it has run.
	ErrUsage = errors.New("apps: usage above the lease's GPU time")
	// ErrNoChainID is returned by settle on a chain without a chain id.
	ErrNoChainID = errors.New("apps: chain has no chain id")
	// ErrFull is returned when ids run out.
	ErrFull = errors.New("apps: no ids left")
)

// Module is the apps module.
type Module struct {
	params        Params
	reg           *registry.Module
	credits       *credits.Module
	blockPeriodMs uint64
	abi           abi.ABI
}

var _ native.Module = (*Module)(nil)
var _ native.BlockHooks = (*Module)(nil)

// Option configures the module.
type Option func(*Module)

// WithCredits lets instances be escrowed in Credits (deployCredits), spent
// and returned through cm, the chain's credits module.
func WithCredits(cm *credits.Module) Option { return func(m *Module) { m.credits = cm } }

// Factory returns the module's native.Factory (see jobs.Factory: st checks
// routers, blockPeriodMs schedules lease ends, which are in block time).
func Factory(st registry.Staking, blockPeriodMs uint64, opts ...Option) native.Factory {
	return func(raw json.RawMessage) (native.Module, error) {
		p, err := ParseParams(raw)
		if err != nil {
			return nil, err
		}
		return NewModule(p, st, blockPeriodMs, opts...)
	}
}

// NewModule returns the module with params p.
func NewModule(p Params, st registry.Staking, blockPeriodMs uint64, opts ...Option) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if blockPeriodMs == 0 {
		return nil, fmt.Errorf("%w: apps: block period must be positive", native.ErrBadParams)
	}
	reg, err := registry.NewModule(registry.Params{}, st)
	if err != nil {
		return nil, err
	}
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: apps: %w", native.ErrBadABI, err)
	}
	m := &Module{params: p, reg: reg, blockPeriodMs: blockPeriodMs, abi: parsed}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.AppsAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params { return m.params }

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "publishApp", Gas: PublishGas, InputGas: publishGas, Mutates: true, Handler: m.publishApp},
		{Name: "deploy", Gas: DeployGas, Mutates: true, Handler: m.deploy},
		{Name: "deployCredits", Gas: DeployGas, Mutates: true, Handler: m.deployCredits},
		{Name: "place", Gas: PlaceGas, Mutates: true, Handler: m.place},
		{Name: "ready", Gas: ReadyGas, Mutates: true, Handler: m.ready},
		{Name: "stop", Gas: StopGas, Mutates: true, Handler: m.stop},
		{Name: "reap", Gas: ReapGas, Mutates: true, Handler: m.reap},
		{Name: "settle", Gas: SettleGas, Mutates: true, Handler: m.settle},
		{Name: "setRestart", Gas: SetRestartGas, Mutates: true, Handler: m.setRestart},
		{Name: "getApp", Gas: ViewGas + appReadGas, Handler: m.getApp},
		{Name: "apps", Gas: ViewGas, InputGas: pageGas(0), Handler: m.appsView},
		{Name: "getInstance", Gas: ViewGas + instReadGas, Handler: m.getInstance},
		{Name: "getRestart", Gas: ViewGas + instReadGas, Handler: m.getRestart},
		{Name: "instancesOf", Gas: ViewGas, InputGas: pageGas(1), Handler: m.pageOf(slotInstOf)},
		{Name: "instancesOnNode", Gas: ViewGas, InputGas: pageGas(1), Handler: m.pageOf(slotInstOnNode)},
		{Name: "deployedInstances", Gas: ViewGas, InputGas: pageGas(0), Handler: m.deployedView},
	}
}

// publishGas charges the texts: stored (22,100 a word) and the name
// logged (8 a byte).
func publishGas(args []any) uint64 {
	var n, name uint64
	for i := 2; i <= 5 && i < len(args); i++ {
		if s, ok := args[i].(string); ok {
			n += uint64(len(s))
			if i == 3 {
				name = uint64(len(s))
			}
		}
	}
	return words(n+4*3)*22_100 + 8*name
}

func pageGas(at int) func([]any) uint64 {
	return func(args []any) uint64 {
		if len(args) <= at+1 {
			return 0
		}
		if l, ok := args[at+1].(*big.Int); ok && l.IsUint64() {
			return min(l.Uint64(), MaxPage) * PageGasPerItem
		}
		return MaxPage * PageGasPerItem
	}
}

// checkText enforces printable ASCII (and newlines and tabs where multi
// allows) within limit bytes.
func checkText(field, s string, limit int, multi bool) error {
	if len(s) > limit {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrBadApp, field, len(s), limit)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if (b < 0x20 || b > 0x7e) && !(multi && (b == '\n' || b == '\t')) {
			return fmt.Errorf("%w: %s has a non-printable byte at %d", ErrBadApp, field, i)
		}
	}
	return nil
}

func (m *Module) publishApp(c *native.Call, args []any) ([]any, error) {
	if len(args) != 9 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	image, ok0 := args[0].([32]byte)
	port, ok1 := args[1].(uint16)
	health, ok2 := args[2].(string)
	name, ok3 := args[3].(string)
	desc, ok4 := args[4].(string)
	doc, ok5 := args[5].(string)
	perCall, ok6 := args[6].(*big.Int)
	perGPU, ok7 := args[7].(*big.Int)
	royalty, ok8 := args[8].(uint16)
	if !ok0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 {
		return nil, fmt.Errorf("%w: publishApp argument types", native.ErrBadInput)
	}
	if image == [32]byte{} {
		return nil, fmt.Errorf("%w: zero image digest", ErrBadApp)
	}
	if port == 0 {
		return nil, fmt.Errorf("%w: port 0", ErrBadApp)
	}
	if !strings.HasPrefix(health, "/") {
		return nil, fmt.Errorf("%w: health path must start with /", ErrBadApp)
	}
	for _, t := range []struct {
		field, s string
		limit    int
		multi    bool
	}{{"healthPath", health, MaxHealthPathBytes, false}, {"name", name, MaxNameBytes, false},
		{"description", desc, MaxDescriptionBytes, true}, {"paramsDoc", doc, MaxParamsDocBytes, true}} {
		if err := checkText(t.field, t.s, t.limit, t.multi); err != nil {
			return nil, err
		}
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty name", ErrBadApp)
	}
	if royalty > MaxRoyaltyBps {
		return nil, fmt.Errorf("%w: %d", ErrBadRoyalty, royalty)
	}
	pc, o1 := uint256.FromBig(perCall)
	pg, o2 := uint256.FromBig(perGPU)
	if o1 || o2 {
		return nil, fmt.Errorf("%w: price above 256 bits", ErrBadApp)
	}
	if pc.IsZero() && pg.IsZero() {
		return nil, fmt.Errorf("%w: no price (per call or per GPU-second)", ErrBadApp)
	}
	n := AppCount(c.State)
	if n >= maxIDs {
		return nil, ErrFull
	}
	a := App{ID: n + 1, Publisher: c.Caller, Image: image, Port: port, HealthPath: health, Name: name, Description: desc,
		ParamsDoc: doc, PricePerCallWei: pc, PricePerGPUSecondWei: pg, RoyaltyBps: royalty, Block: c.BlockNumber}
	if err := saveApp(c, &a); err != nil {
		return nil, err
	}
	c.StoreUint(native.Slot(slotAppCount), uint256.NewInt(a.ID))
	id := new(big.Int).SetUint64(a.ID)
	return []any{id}, c.Emit("AppPublished", id, c.Caller, image, name, perCall, perGPU, royalty)
}

func (m *Module) deploy(c *native.Call, args []any) ([]any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	if c.Value.IsZero() {
		return nil, ErrNoEscrow
	}
	return m.deployWith(c, args, nil)
}

func (m *Module) deployCredits(c *native.Call, args []any) ([]any, error) {
	if len(args) != 5 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	nBig, ok := args[4].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: credits %T", native.ErrBadInput, args[4])
	}
	n, overflow := uint256.FromBig(nBig)
	if overflow || n.IsZero() {
		return nil, ErrNoEscrow
	}
	if m.credits == nil {
		return nil, ErrNoCredits
	}
	return m.deployWith(c, args[:4], n)
}

// deployWith records an instance escrowed by the call's value, or by
// escrowCredits of the caller's Credits when not nil.
func (m *Module) deployWith(c *native.Call, args []any, escrowCredits *uint256.Int) ([]any, error) {
	appBig, ok0 := args[0].(*big.Int)
	gpus, ok1 := args[1].(uint32)
	hours, ok2 := args[2].(uint64)
	keyHash, ok3 := args[3].([32]byte)
	if !ok0 || !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("%w: deploy argument types", native.ErrBadInput)
	}
	if !appBig.IsUint64() {
		return nil, fmt.Errorf("%w: %s", ErrNoApp, appBig)
	}
	app, found, err := AppOf(c.State, appBig.Uint64())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNoApp, appBig)
	}
	switch {
	case hours == 0 || hours > MaxHours:
		return nil, fmt.Errorf("%w: %d hours (1 to %d)", ErrBadLease, hours, MaxHours)
	case gpus > registry.MaxGPUs:
		return nil, fmt.Errorf("%w: %d GPUs (at most %d)", ErrBadLease, gpus, registry.MaxGPUs)
	case keyHash == [32]byte{}:
		return nil, fmt.Errorf("%w: zero API key hash", ErrBadLease)
	}
	n := InstanceCount(c.State)
	if n >= maxIDs {
		return nil, ErrFull
	}
	total, overflow := new(uint256.Int).AddOverflow(EscrowTotal(c.State), c.Value)
	if overflow {
		return nil, fmt.Errorf("%w: escrow total overflows", native.ErrInternal)
	}
	in := Instance{ID: n + 1, App: app.ID, Owner: c.Caller, State: StateDeployed, GPUs: gpus, Hours: hours,
		APIKeyHash: keyHash, EscrowWei: c.Value.Clone(), EscrowCredits: escrowCredits, DeployBlock: c.BlockNumber}
	if escrowCredits != nil {
		ctotal, overflow := new(uint256.Int).AddOverflow(CreditsEscrowTotal(c.State), escrowCredits)
		if overflow {
			return nil, fmt.Errorf("%w: credits escrow total overflows", native.ErrInternal)
		}
		if err := m.credits.Lock(c, c.Caller, escrowCredits); err != nil {
			return nil, err
		}
		c.StoreUint(native.Slot(slotCreditsEsc), ctotal)
	}
	in.Deadline = c.BlockNumber + m.params.PlaceBlocks
	schedule(c, &in, in.Deadline)
	if err := listDeployed(c, in.ID); err != nil {
		return nil, err
	}
	if err := saveInstance(c, &in); err != nil {
		return nil, err
	}
	c.StoreUint(native.Slot(slotInstCount), uint256.NewInt(in.ID))
	c.StoreUint(native.Slot(slotEscrow), total)
	push(c, native.MapSlot(native.Slot(slotInstOf), native.AddressKey(c.Caller)), in.ID)
	id := new(big.Int).SetUint64(in.ID)
	return []any{id}, c.Emit("InstanceDeployed", id, appBig, c.Caller, gpus, hours, keyHash, in.EscrowWei.ToBig(), in.EscrowCredits.ToBig())
}

// Fit reports whether node can take instance in in block number: a
// registered node seen within LivenessBlocks, holding the app's image and
// at least the instance's GPUs. Routers call it on a state copy before
// they send place.
func (m *Module) Fit(s native.StateReader, in *Instance, node common.Address, number uint64) error {
	app, ok, err := AppOf(s, in.App)
	if err != nil || !ok {
		return fmt.Errorf("%w: app %d of instance %d: %v", native.ErrInternal, in.App, in.ID, err)
	}
	n, ok, err := registry.NodeOf(s, node)
	if err != nil {
		return fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s is not a registered node", ErrNodeUnfit, node)
	}
	if seen := registry.LastSeen(s, &n); seen+m.params.LivenessBlocks < number {
		return fmt.Errorf("%w: %s last seen at block %d", ErrNodeUnfit, node, seen)
	}
	if !n.HasImage(app.Image) {
		return fmt.Errorf("%w: node does not hold image %s", ErrNodeUnfit, app.Image)
	}
	if n.GPUCount < in.GPUs {
		return fmt.Errorf("%w: %d GPUs, instance needs %d", ErrNodeUnfit, n.GPUCount, in.GPUs)
	}
	return nil
}

func (m *Module) place(c *native.Call, args []any) ([]any, error) {
	in, err := m.instArg(c, args)
	if err != nil {
		return nil, err
	}
	node, ok := args[1].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: node is %T", native.ErrBadInput, args[1])
	}
	if in.State != StateDeployed {
		return nil, fmt.Errorf("%w: instance %d is %s, place needs deployed", ErrWrongState, in.ID, in.State)
	}
	if !m.reg.ActiveRouter(c.State, c.Caller, c.BlockNumber) {
		return nil, fmt.Errorf("%w: %s", ErrNotRouter, c.Caller)
	}
	if c.Caller == node || c.Caller == in.Owner || node == in.Owner {
		return nil, ErrSelfDealing
	}
	if err := m.Fit(c.State, &in, node, c.BlockNumber); err != nil {
		return nil, err
	}
	if err := unlistDeployed(c, in.ID); err != nil {
		return nil, err
	}
	in.State, in.Router, in.Node = StatePlaced, c.Caller, node
	in.Attempts++
	in.Deadline = c.BlockNumber + m.params.ReadyBlocks
	schedule(c, &in, in.Deadline)
	if err := saveInstance(c, &in); err != nil {
		return nil, err
	}
	push(c, native.MapSlot(native.Slot(slotInstOnNode), native.AddressKey(node)), in.ID)
	return nil, c.Emit("InstancePlaced", new(big.Int).SetUint64(in.ID), c.Caller, node, in.Deadline)
}

func (m *Module) ready(c *native.Call, args []any) ([]any, error) {
	in, err := m.instArg(c, args)
	if err != nil {
		return nil, err
	}
	if in.State != StatePlaced {
		return nil, fmt.Errorf("%w: instance %d is %s, ready needs placed", ErrWrongState, in.ID, in.State)
	}
	if c.Caller != in.Node {
		return nil, fmt.Errorf("%w: %s", ErrNotNode, c.Caller)
	}
	if c.BlockNumber > in.Deadline {
		return nil, fmt.Errorf("%w: ready by block %d", ErrDeadline, in.Deadline)
	}
	if in.ReadyTime != 0 {
		// A restart (reap with Restart set): the lease goes on where it
		// was, not extended; one that ran out meanwhile ends at the next
		// block's hook.
		in.State, in.Deadline = StateRunning, 0
		left := uint64(0)
		if in.EndTime > c.Time {
			left = in.EndTime - c.Time
		}
		schedule(c, &in, c.BlockNumber+m.blocksFor(left))
	} else {
		lease := in.Hours * 3600
		in.State, in.ReadyTime, in.EndTime, in.Deadline = StateRunning, c.Time, c.Time+lease, 0
		schedule(c, &in, c.BlockNumber+m.blocksFor(lease))
	}
	if err := saveInstance(c, &in); err != nil {
		return nil, err
	}
	return nil, c.Emit("InstanceReady", new(big.Int).SetUint64(in.ID), c.Caller, in.EndTime)
}

func (m *Module) stop(c *native.Call, args []any) ([]any, error) {
	in, err := m.instArg(c, args)
	if err != nil {
		return nil, err
	}
	if c.Caller != in.Owner {
		return nil, ErrNotOwner
	}
	switch in.State {
	case StateDeployed, StatePlaced:
		return nil, m.close(c, &in, EndStopped)
	case StateRunning:
		return nil, m.ending(c, &in, EndStopped)
	}
	return nil, fmt.Errorf("%w: instance %d is %s, already stopping", ErrWrongState, in.ID, in.State)
}

// setRestart sets or clears the instance's Restart flag: whether a reap
// while it runs sends it back to the routers (restart elsewhere) instead
// of ending it. Only the owner, and only before the lease ends.
func (m *Module) setRestart(c *native.Call, args []any) ([]any, error) {
	in, err := m.instArg(c, args)
	if err != nil {
		return nil, err
	}
	on, ok := args[1].(bool)
	if !ok {
		return nil, fmt.Errorf("%w: restart is %T", native.ErrBadInput, args[1])
	}
	if c.Caller != in.Owner {
		return nil, ErrNotRestartOwner
	}
	if in.State != StateDeployed && in.State != StatePlaced && in.State != StateRunning {
		return nil, fmt.Errorf("%w: instance %d is %s, setRestart needs deployed, placed or running", ErrWrongState, in.ID, in.State)
	}
	in.Restart = on
	if err := saveInstance(c, &in); err != nil {
		return nil, err
	}
	return nil, c.Emit("InstanceRestartSet", new(big.Int).SetUint64(in.ID), on)
}

// Reapable reports why reap of in would be refused in block number (nil:
// it would go through): the module's own rule, for routers that reap on
// a state copy.
func (m *Module) Reapable(s native.StateReader, in *Instance, number uint64) error {
	if in.State != StatePlaced && in.State != StateRunning {
		return fmt.Errorf("%w: instance %d is %s, reap needs placed or running", ErrWrongState, in.ID, in.State)
	}
	if m.nodeLive(s, in.Node, number) {
		return fmt.Errorf("%w: %s", ErrNodeAlive, in.Node)
	}
	return nil
}

// ActiveRouter reports whether a is an active router in block number (the
// rule place applies to its caller).
func (m *Module) ActiveRouter(s native.StateReader, a common.Address, number uint64) bool {
	return m.reg.ActiveRouter(s, a, number)
}

// reap ends an instance whose node is dead (not registered, or not seen
// within LivenessBlocks): a running one enters its settlement window, or
// goes back to the routers when its owner set Restart (at most
// MaxRestarts times, while its lease has time left); a placed one goes
// back to the routers. Anyone may call it.
func (m *Module) reap(c *native.Call, args []any) ([]any, error) {
	in, err := m.instArg(c, args)
	if err != nil {
		return nil, err
	}
	if err := m.Reapable(c.State, &in, c.BlockNumber); err != nil {
		return nil, err
	}
	if in.State == StatePlaced {
		return nil, m.reopen(c, &in)
	}
	if in.Restart && in.Restarts < m.params.MaxRestarts && c.Time < in.EndTime {
		return nil, m.restart(c, &in)
	}
	return nil, m.ending(c, &in, EndNodeDead)
}

// restart sends a running instance whose node died back to the routers:
// its escrow, its settled usage and its lease's end stay; its receipts
// start a new placement epoch (Restarts + 1, see [EpochSeq]), so the old
// placement's receipts no longer settle; it gets MaxAttempts placements
// again.
func (m *Module) restart(c *native.Call, in *Instance) error {
	node := in.Node
	if err := listDeployed(c, in.ID); err != nil {
		return err
	}
	in.State, in.Router, in.Node = StateDeployed, common.Address{}, common.Address{}
	in.Restarts++
	in.Attempts = 0
	in.Deadline = c.BlockNumber + m.params.PlaceBlocks
	schedule(c, in, in.Deadline)
	if err := saveInstance(c, in); err != nil {
		return err
	}
	return c.Emit("InstanceRestarted", new(big.Int).SetUint64(in.ID), node, in.Restarts, in.Deadline)
}

func (m *Module) nodeLive(s native.StateReader, node common.Address, number uint64) bool {
	n, ok, err := registry.NodeOf(s, node)
	if err != nil || !ok {
		return false
	}
	return registry.LastSeen(s, &n)+m.params.LivenessBlocks >= number
}

// reopen sends a placed instance back to the routers, or closes it after
// its last attempt.
func (m *Module) reopen(c *native.Call, in *Instance) error {
	if in.Attempts >= MaxAttempts {
		return m.close(c, in, EndExpired)
	}
	node := in.Node
	if err := listDeployed(c, in.ID); err != nil {
		return err
	}
	in.State, in.Router, in.Node = StateDeployed, common.Address{}, common.Address{}
	in.Deadline = c.BlockNumber + m.params.PlaceBlocks
	schedule(c, in, in.Deadline)
	if err := saveInstance(c, in); err != nil {
		return err
	}
	return c.Emit("InstanceReopened", new(big.Int).SetUint64(in.ID), node, in.Deadline)
}

// ending ends a running lease now: the settlement window opens.
func (m *Module) ending(c *native.Call, in *Instance, reason uint8) error {
	in.State, in.EndReason = StateEnding, reason
	in.EndTime = min(in.EndTime, c.Time)
	in.Deadline = c.BlockNumber + m.params.SettleBlocks
	schedule(c, in, in.Deadline)
	if err := saveInstance(c, in); err != nil {
		return err
	}
	return c.Emit("InstanceEnding", new(big.Int).SetUint64(in.ID), reason, in.Deadline)
}

// close refunds what is left of the escrow to the owner and closes in.
func (m *Module) close(c *native.Call, in *Instance, reason uint8) error {
	in.fill()
	if in.State == StateDeployed {
		if err := unlistDeployed(c, in.ID); err != nil {
			return err
		}
	}
	refund := new(uint256.Int) // EMC escrow not charged; a Credits escrow refunds Credits only
	if !in.InCredits() {
		refund.Sub(in.EscrowWei, in.ChargedWei)
	}
	if !refund.IsZero() {
		if err := c.Pay(in.Owner, refund); err != nil {
			return err
		}
	}
	if err := subTotal(c, slotEscrow, refund); err != nil {
		return err
	}
	refundCredits := new(uint256.Int).Sub(in.EscrowCredits, in.ChargedCredits)
	if !refundCredits.IsZero() {
		if m.credits == nil {
			return fmt.Errorf("%w: instance %d escrowed in Credits on a chain without them", native.ErrInternal, in.ID)
		}
		if err := m.credits.Release(c, in.Owner, refundCredits); err != nil {
			return fmt.Errorf("%w: instance %d: %w", native.ErrInternal, in.ID, err)
		}
		if err := subTotal(c, slotCreditsEsc, refundCredits); err != nil {
			return err
		}
	}
	if in.EndReason == 0 {
		in.EndReason = reason
	}
	in.State, in.RefundWei, in.RefundCredits = StateClosed, refund, refundCredits
	in.EndBlock, in.Deadline, in.DueBlock = c.BlockNumber, 0, 0
	if err := saveInstance(c, in); err != nil {
		return err
	}
	return c.Emit("InstanceClosed", new(big.Int).SetUint64(in.ID), in.EndReason, refund.ToBig(), refundCredits.ToBig())
}

func subTotal(c *native.Call, slot uint64, v *uint256.Int) error {
	total := c.LoadUint(native.Slot(slot))
	if total.Lt(v) {
		return fmt.Errorf("%w: escrow total %s below %s", native.ErrInternal, total, v)
	}
	c.StoreUint(native.Slot(slot), total.Sub(total, v))
	return nil
}

// EndBlock implements native.BlockHooks: it acts on every deadline due in
// this block (after the block's transactions): unplaced instances expire,
// a placed node that missed ready sends its instance back, leases whose
// time is up start their settlement window, closed windows refund. Each
// entry was paid for by the call that scheduled it.
func (m *Module) EndBlock(c *native.Call, env *native.BlockEnv) error {
	base := dueKey(env.Number)
	n := c.LoadUint(base).Uint64()
	for i := uint64(0); i < n; i++ {
		key := native.ArraySlot(base, i)
		id := c.LoadUint(key).Uint64()
		c.Store(key, common.Hash{})
		in, ok, err := InstanceOf(c.State, id)
		if err != nil || !ok {
			return fmt.Errorf("%w: due instance %d: %v", ErrCorrupt, id, err)
		}
		if in.DueBlock != env.Number {
			continue // stale
		}
		switch {
		case in.State == StateDeployed && env.Number >= in.Deadline:
			err = m.close(c, &in, EndExpired)
		case in.State == StatePlaced && env.Number >= in.Deadline:
			err = m.reopen(c, &in)
		case in.State == StateRunning && env.Time >= in.EndTime:
			err = m.ending(c, &in, EndLease)
		case in.State == StateRunning:
			schedule(c, &in, env.Number+m.blocksFor(in.EndTime-env.Time))
			err = saveInstance(c, &in)
		case in.State == StateEnding && env.Number >= in.Deadline:
			err = m.close(c, &in, in.EndReason)
		}
		if err != nil {
			return err
		}
	}
	if n > 0 {
		c.Store(base, common.Hash{})
	}
	return nil
}

// BeginBlock implements native.BlockHooks; the module does nothing there.
func (m *Module) BeginBlock(*native.Call, *native.BlockEnv) error { return nil }

func (m *Module) blocksFor(seconds uint64) uint64 {
	return max(1, (seconds*1000+m.blockPeriodMs-1)/m.blockPeriodMs)
}

func schedule(c *native.Call, in *Instance, block uint64) {
	in.DueBlock = block
	push(c, dueKey(block), in.ID)
}

func (m *Module) instArg(c *native.Call, args []any) (Instance, error) {
	idBig, ok := args[0].(*big.Int)
	if !ok {
		return Instance{}, fmt.Errorf("%w: instance is %T", native.ErrBadInput, args[0])
	}
	if !idBig.IsUint64() {
		return Instance{}, fmt.Errorf("%w: %s", ErrNoInstance, idBig)
	}
	in, found, err := InstanceOf(c.State, idBig.Uint64())
	if err != nil {
		return Instance{}, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !found {
		return Instance{}, fmt.Errorf("%w: %s", ErrNoInstance, idBig)
	}
	return in, nil
}

func (m *Module) getApp(c *native.Call, args []any) ([]any, error) {
	idBig, ok := args[0].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: id is %T", native.ErrBadInput, args[0])
	}
	var a App
	found := false
	if idBig.IsUint64() {
		var err error
		if a, found, err = AppOf(c.State, idBig.Uint64()); err != nil {
			return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
		}
	}
	a.fill()
	return []any{found, a.Publisher, [32]byte(a.Image), a.Port, a.HealthPath, a.Name, a.Description, a.ParamsDoc,
		a.PricePerCallWei.ToBig(), a.PricePerGPUSecondWei.ToBig(), a.RoyaltyBps, a.Block}, nil
}

// viewInstance reads the instance a view's first argument names (found
// false for an id that does not fit or is not there).
func viewInstance(c *native.Call, args []any) (Instance, bool, error) {
	idBig, ok := args[0].(*big.Int)
	if !ok {
		return Instance{}, false, fmt.Errorf("%w: id is %T", native.ErrBadInput, args[0])
	}
	if !idBig.IsUint64() {
		return Instance{}, false, nil
	}
	in, found, err := InstanceOf(c.State, idBig.Uint64())
	if err != nil {
		return Instance{}, false, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	return in, found, nil
}

func (m *Module) getInstance(c *native.Call, args []any) ([]any, error) {
	in, found, err := viewInstance(c, args)
	if err != nil {
		return nil, err
	}
	in.fill()
	return []any{found, new(big.Int).SetUint64(in.App), in.Owner, uint8(in.State), in.GPUs, in.Hours, [32]byte(in.APIKeyHash),
		in.EscrowWei.ToBig(), in.EscrowCredits.ToBig(), in.Router, in.Node, in.Deadline, in.ReadyTime, in.EndTime,
		in.Seq, in.Calls, in.GPUMillis, [32]byte(in.CallsHash), in.ChargedWei.ToBig(), in.ChargedCredits.ToBig(),
		in.NodeWei.ToBig(), in.RoyaltyWei.ToBig(), in.BurnedWei.ToBig(), in.RefundWei.ToBig(), in.RefundCredits.ToBig(),
		in.EndReason, in.EndBlock}, nil
}

// getRestart returns an instance's restart flag and count (getInstance's
// outputs stay as they were).
func (m *Module) getRestart(c *native.Call, args []any) ([]any, error) {
	in, found, err := viewInstance(c, args)
	if err != nil {
		return nil, err
	}
	return []any{found, in.Restart, in.Restarts}, nil
}

func (m *Module) appsView(c *native.Call, args []any) ([]any, error) {
	offset, limit, err := pageArgs(args)
	if err != nil {
		return nil, err
	}
	ids, total := Apps(c.State, offset, limit)
	return []any{bigIDs(ids), new(big.Int).SetUint64(total)}, nil
}

func (m *Module) deployedView(c *native.Call, args []any) ([]any, error) {
	offset, limit, err := pageArgs(args)
	if err != nil {
		return nil, err
	}
	ids, total := DeployedInstances(c.State, offset, limit)
	return []any{bigIDs(ids), new(big.Int).SetUint64(total)}, nil
}

func (m *Module) pageOf(slot uint64) func(*native.Call, []any) ([]any, error) {
	return func(c *native.Call, args []any) ([]any, error) {
		who, ok := args[0].(common.Address)
		if !ok {
			return nil, fmt.Errorf("%w: address is %T", native.ErrBadInput, args[0])
		}
		offset, limit, err := pageArgs(args[1:])
		if err != nil {
			return nil, err
		}
		ids, total := pageArray(c.State, native.MapSlot(native.Slot(slot), native.AddressKey(who)), offset, limit)
		return []any{bigIDs(ids), new(big.Int).SetUint64(total)}, nil
	}
}

func bigIDs(ids []uint64) []*big.Int {
	out := make([]*big.Int, len(ids))
	for i, id := range ids {
		out[i] = new(big.Int).SetUint64(id)
	}
	return out
}

func pageArgs(args []any) (offset, limit uint64, err error) {
	if len(args) != 2 {
		return 0, 0, fmt.Errorf("%w: %d page args", native.ErrBadInput, len(args))
	}
	o, ok1 := args[0].(*big.Int)
	l, ok2 := args[1].(*big.Int)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: offset %T limit %T", native.ErrBadInput, args[0], args[1])
	}
	if !o.IsUint64() {
		return ^uint64(0) - MaxPage, 0, nil // past any list
	}
	limit = MaxPage
	if l.IsUint64() && l.Uint64() < MaxPage {
		limit = l.Uint64()
	}
	return o.Uint64(), limit, nil
}
