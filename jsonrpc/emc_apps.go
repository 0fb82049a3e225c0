package jsonrpc

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
)

// MaxAppsPage bounds the apps one emc_apps call returns (its limit).
const MaxAppsPage = apps.MaxPage

// App is an app of the apps module (EMC Hub) in emc_apps' and
// emc_getApp's answers; prices in hex wei.
type App struct {
	ID                hexutil.Uint64 `json:"id"`
	Publisher         common.Address `json:"publisher"`
	Image             common.Hash    `json:"image"`
	Port              hexutil.Uint64 `json:"port"`
	HealthPath        string         `json:"healthPath"`
	Name              string         `json:"name"`
	Description       string         `json:"description"`
	ParamsDoc         string         `json:"paramsDoc"`
	PricePerCall      *hexutil.Big   `json:"pricePerCallWei"`
	PricePerGPUSecond *hexutil.Big   `json:"pricePerGpuSecondWei"`
	RoyaltyBps        hexutil.Uint64 `json:"royaltyBps"`
	Block             hexutil.Uint64 `json:"block"`
}

// AppsPage is emc_apps' answer: apps by id from offset; Total counts every
// app, NextOffset is the offset of the next page (Total at the end).
type AppsPage struct {
	BlockNumber hexutil.Uint64 `json:"blockNumber"`
	Total       hexutil.Uint64 `json:"total"`
	NextOffset  hexutil.Uint64 `json:"nextOffset"`
	Apps        []*App         `json:"apps"`
}

// Instance is emc_getInstance's answer: an instance of an app at one
// block. State is deployed, placed, running, ending or closed; EndReason
// is "", expired, stopped, lease-ended or node-dead. EscrowKind is "emc"
// (escrow, charged and refund are wei) or "credits" (escrowCredits,
// chargedCredits and refundCredits are Credits; charged is the wei the
// spent Credits moved). Charged = nodePaid + royalty + burned. Deadline's
// meaning depends on the state (computing/apps Instance). Router and Node
// are null until placed; readyTime and endTime are block times.
type Instance struct {
	ID             hexutil.Uint64  `json:"id"`
	App            hexutil.Uint64  `json:"app"`
	Owner          common.Address  `json:"owner"`
	State          string          `json:"state"`
	GPUs           hexutil.Uint64  `json:"gpus"`
	Hours          hexutil.Uint64  `json:"hours"`
	APIKeyHash     common.Hash     `json:"apiKeyHash"`
	EscrowKind     string          `json:"escrowKind"`
	Escrow         *hexutil.Big    `json:"escrow"`
	EscrowCredits  *hexutil.Big    `json:"escrowCredits"`
	DeployBlock    hexutil.Uint64  `json:"deployBlock"`
	Router         *common.Address `json:"router"`
	Node           *common.Address `json:"node"`
	Attempts       hexutil.Uint64  `json:"attempts"`
	Deadline       hexutil.Uint64  `json:"deadline"`
	ReadyTime      hexutil.Uint64  `json:"readyTime"`
	EndTime        hexutil.Uint64  `json:"endTime"`
	Seq            hexutil.Uint64  `json:"seq"`
	Calls          hexutil.Uint64  `json:"calls"`
	GPUMillis      hexutil.Uint64  `json:"gpuMillis"`
	CallsHash      common.Hash     `json:"callsHash"`
	Charged        *hexutil.Big    `json:"charged"`
	ChargedCredits *hexutil.Big    `json:"chargedCredits"`
	NodePaid       *hexutil.Big    `json:"nodePaid"`
	Royalty        *hexutil.Big    `json:"royalty"`
	Burned         *hexutil.Big    `json:"burned"`
	Refund         *hexutil.Big    `json:"refund"`
	RefundCredits  *hexutil.Big    `json:"refundCredits"`
	EndReason      string          `json:"endReason"`
	EndBlock       hexutil.Uint64  `json:"endBlock"`
	// Restart: the owner asked for a restart elsewhere when the node
	// dies (setRestart); Restarts: how many happened (the receipts'
	// placement epoch).
	Restart  bool           `json:"restart"`
	Restarts hexutil.Uint64 `json:"restarts"`
}

func hexAmount(v *uint256.Int) *hexutil.Big {
	if v == nil {
		return (*hexutil.Big)(new(big.Int))
	}
	return (*hexutil.Big)(v.ToBig())
}

// AppEntry is a in emc_apps' form.
func AppEntry(a *apps.App) *App {
	return &App{
		ID: hexutil.Uint64(a.ID), Publisher: a.Publisher, Image: a.Image, Port: hexutil.Uint64(a.Port), HealthPath: a.HealthPath,
		Name: a.Name, Description: a.Description, ParamsDoc: a.ParamsDoc, PricePerCall: hexAmount(a.PricePerCallWei),
		PricePerGPUSecond: hexAmount(a.PricePerGPUSecondWei), RoyaltyBps: hexutil.Uint64(a.RoyaltyBps), Block: hexutil.Uint64(a.Block),
	}
}

// InstanceEntry is in in emc_getInstance's form.
func InstanceEntry(in *apps.Instance) *Instance {
	addr := func(a common.Address) *common.Address {
		if a == (common.Address{}) {
			return nil
		}
		return &a
	}
	e := &Instance{
		ID: hexutil.Uint64(in.ID), App: hexutil.Uint64(in.App), Owner: in.Owner, State: in.State.String(), GPUs: hexutil.Uint64(in.GPUs),
		Hours: hexutil.Uint64(in.Hours), APIKeyHash: in.APIKeyHash, EscrowKind: "emc", Escrow: hexAmount(in.EscrowWei),
		EscrowCredits: hexAmount(in.EscrowCredits), DeployBlock: hexutil.Uint64(in.DeployBlock), Router: addr(in.Router),
		Node: addr(in.Node), Attempts: hexutil.Uint64(in.Attempts), Deadline: hexutil.Uint64(in.Deadline),
		ReadyTime: hexutil.Uint64(in.ReadyTime), EndTime: hexutil.Uint64(in.EndTime), Seq: hexutil.Uint64(in.Seq),
		Calls: hexutil.Uint64(in.Calls), GPUMillis: hexutil.Uint64(in.GPUMillis), CallsHash: in.CallsHash,
		Charged: hexAmount(in.ChargedWei), ChargedCredits: hexAmount(in.ChargedCredits), NodePaid: hexAmount(in.NodeWei),
		Royalty: hexAmount(in.RoyaltyWei), Burned: hexAmount(in.BurnedWei), Refund: hexAmount(in.RefundWei),
		RefundCredits: hexAmount(in.RefundCredits), EndReason: apps.EndReasonString(in.EndReason), EndBlock: hexutil.Uint64(in.EndBlock),
		Restart: in.Restart, Restarts: hexutil.Uint64(in.Restarts),
	}
	if in.InCredits() {
		e.EscrowKind = "credits"
	}
	return e
}

// Apps returns the apps from offset (0 is the first app), at most limit
// (0 means MaxAppsPage; more is an error), at the given block (latest when
// absent). A chain without the apps module has none.
func (api *emcAPI) Apps(ctx context.Context, offset, limit hexutil.Uint64, bnh *rpc.BlockNumberOrHash) (*AppsPage, error) {
	if limit == 0 {
		limit = MaxAppsPage
	}
	if limit > MaxAppsPage {
		return nil, invalidParams("limit %d above %d", limit, MaxAppsPage)
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	ids, total := apps.Apps(st, uint64(offset), uint64(limit))
	out := &AppsPage{BlockNumber: hexutil.Uint64(h.Number.Uint64()), Total: hexutil.Uint64(total), Apps: []*App{}}
	for _, id := range ids {
		a, ok, err := apps.AppOf(st, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Apps = append(out.Apps, AppEntry(&a))
		}
	}
	out.NextOffset = hexutil.Uint64(min(uint64(offset)+uint64(len(ids)), total))
	if uint64(offset) > total {
		out.NextOffset = hexutil.Uint64(total)
	}
	return out, st.Error()
}

// GetApp returns app id at the given block (latest when absent), null when
// there is none.
func (api *emcAPI) GetApp(ctx context.Context, id hexutil.Uint64, bnh *rpc.BlockNumberOrHash) (*App, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	a, ok, err := apps.AppOf(st, uint64(id))
	if err != nil || !ok {
		return nil, err
	}
	return AppEntry(&a), st.Error()
}

// GetInstance returns instance id at the given block (latest when
// absent), null when there is none.
func (api *emcAPI) GetInstance(ctx context.Context, id hexutil.Uint64, bnh *rpc.BlockNumberOrHash) (*Instance, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	in, ok, err := apps.InstanceOf(st, uint64(id))
	if err != nil || !ok {
		return nil, err
	}
	return InstanceEntry(&in), st.Error()
}

// InstancesPage is emc_instances' answer: instances by id from offset;
// Total counts every instance ever deployed, NextOffset is the offset of
// the next page (Total at the end).
type InstancesPage struct {
	BlockNumber hexutil.Uint64 `json:"blockNumber"`
	Total       hexutil.Uint64 `json:"total"`
	NextOffset  hexutil.Uint64 `json:"nextOffset"`
	Instances   []*Instance    `json:"instances"`
}

// Instances returns the instances from offset (0 is instance 1), at most
// limit (0 means MaxAppsPage; more is an error), each in emc_getInstance's
// form, at the given block (latest when absent). A chain without the apps
// module has none.
func (api *emcAPI) Instances(ctx context.Context, offset, limit hexutil.Uint64, bnh *rpc.BlockNumberOrHash) (*InstancesPage, error) {
	if limit == 0 {
		limit = MaxAppsPage
	}
	if limit > MaxAppsPage {
		return nil, invalidParams("limit %d above %d", limit, MaxAppsPage)
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	total := apps.InstanceCount(st)
	out := &InstancesPage{BlockNumber: hexutil.Uint64(h.Number.Uint64()), Total: hexutil.Uint64(total), Instances: []*Instance{}}
	id := uint64(offset) + 1
	for ; id <= total && uint64(len(out.Instances)) < uint64(limit); id++ {
		in, ok, err := apps.InstanceOf(st, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("instance %d counted but not found: %w", id, apps.ErrCorrupt)
		}
		out.Instances = append(out.Instances, InstanceEntry(&in))
	}
	out.NextOffset = hexutil.Uint64(min(id-1, total))
	return out, st.Error()
}
