package credits

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "credits"

// Gas of each method, and of the Spend host API, counted as staking's are:
// the worst case under Cancun's EIP-2929/2200 pricing, every slot touched
// cold (2100), every write a fresh zero-to-non-zero SSTORE (20000) or a
// reset (2900), logs 375 + 375 per topic + 8 per data byte, transfers 9000.
const (
	// BuyGas: buyCredits for a recipient without credits: 3 slots read
	// (credits[to], total, reserve) 6,300 + 3 fresh writes 60,000 +
	// CreditsBought log (3 topics, 64 bytes) 2,012 = 68,312, rounded up.
	BuyGas = 68_400
	// ViewGas is the cost of every view method: one cold slot 2,100 + 100
	// dispatch.
	ViewGas = 2_200
	// SpendGas is what a module that calls Spend must add to its own
	// method's gas: 5 slots read (credits[from], total, reserve, burned,
	// paid) 10,500 + 3 resets 8,700 + 2 fresh writes 40,000 + the provider
	// transfer 9,000 + CreditsSpent log (3 topics, 96 bytes) 2,268 =
	// 70,468, rounded up.
	SpendGas = 70_500
)

// Revert reasons of buyCredits, and errors of Spend.
var (
	// ErrZeroValue is returned by buyCredits without value.
	ErrZeroValue = errors.New("credits: payment must be positive")
	// ErrNotMultiple is returned by buyCredits when the value is not a
	// whole multiple of the credit price (the call reverts, so the EVM
	// returns the whole payment).
	ErrNotMultiple = errors.New("credits: payment is not a whole multiple of the credit price")
	// ErrZeroAddress is returned for the zero address as buyCredits' to or
	// Spend's provider: credits or wei sent there would be lost unrecorded.
	ErrZeroAddress = errors.New("credits: zero address")
	// ErrOverflow is returned when a balance, total or amount would exceed
	// 2^256-1 (impossible with a real supply; checked so nothing wraps).
	ErrOverflow = errors.New("credits: amount overflows uint256")
	// ErrZeroCredits is returned by Spend for zero credits.
	ErrZeroCredits = errors.New("credits: spend of zero credits")
	// ErrInsufficientCredits is returned by Spend for more credits than the
	// account holds.
	ErrInsufficientCredits = errors.New("credits: insufficient credits")
	// ErrNotModule is returned by Spend when the call it is given is not a
	// call of another chain-native module.
	ErrNotModule = errors.New("credits: spend is only open to other chain-native modules")
)

// Module is the credits module.
type Module struct {
	params Params
	abi    abi.ABI
}

var _ native.Module = (*Module)(nil)

// New is the module's native.Factory: it parses params (see [Params]).
func New(params json.RawMessage) (native.Module, error) {
	p, err := ParseParams(params)
	if err != nil {
		return nil, err
	}
	return NewModule(p)
}

// NewModule returns the module with validated params.
func NewModule(p Params) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: credits: %w", native.ErrBadABI, err)
	}
	p.CreditPriceWei = p.CreditPriceWei.Clone()
	return &Module{params: p, abi: parsed}, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.CreditsAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params {
	p := m.params
	p.CreditPriceWei = p.CreditPriceWei.Clone()
	return p
}

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "buyCredits", Gas: BuyGas, Mutates: true, Handler: m.buyCredits},
		{Name: "creditsOf", Gas: ViewGas, Handler: m.creditsOf},
		{Name: "totalCredits", Gas: ViewGas, Handler: m.view(TotalCredits)},
		{Name: "reserve", Gas: ViewGas, Handler: m.view(Reserve)},
		{Name: "burned", Gas: ViewGas, Handler: m.view(Burned)},
		{Name: "creditPrice", Gas: ViewGas, Handler: m.creditPrice},
	}
}

// buyCredits credits to with the call's value (already in the module's
// balance) divided by the price.
func (m *Module) buyCredits(c *native.Call, args []any) ([]any, error) {
	to, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: to is %T", native.ErrBadInput, args[0])
	}
	paidWei := c.Value
	if paidWei.IsZero() {
		return nil, ErrZeroValue
	}
	if to == (common.Address{}) {
		return nil, fmt.Errorf("%w: buyCredits to", ErrZeroAddress)
	}
	credits, rem := new(uint256.Int).DivMod(paidWei, m.params.CreditPriceWei, new(uint256.Int))
	if !rem.IsZero() {
		return nil, fmt.Errorf("%w: %s wei at %s wei per credit leaves %s wei", ErrNotMultiple, paidWei, m.params.CreditPriceWei, rem)
	}
	balance, overflow := new(uint256.Int).AddOverflow(c.LoadUint(CreditsKey(to)), credits)
	if overflow {
		return nil, fmt.Errorf("%w: credits of %s", ErrOverflow, to)
	}
	total, overflow := new(uint256.Int).AddOverflow(c.LoadUint(native.Slot(slotTotal)), credits)
	if overflow {
		return nil, fmt.Errorf("%w: total credits", ErrOverflow)
	}
	reserve, overflow := new(uint256.Int).AddOverflow(c.LoadUint(native.Slot(slotReserve)), paidWei)
	if overflow {
		return nil, fmt.Errorf("%w: reserve", ErrOverflow)
	}
	c.StoreUint(CreditsKey(to), balance)
	c.StoreUint(native.Slot(slotTotal), total)
	c.StoreUint(native.Slot(slotReserve), reserve)
	return nil, c.Emit("CreditsBought", c.Caller, to, credits.ToBig(), paidWei.ToBig())
}

func (m *Module) creditsOf(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: account is %T", native.ErrBadInput, args[0])
	}
	return []any{CreditsOf(c.State, a).ToBig()}, nil
}

func (m *Module) view(get func(native.StateReader) *uint256.Int) func(*native.Call, []any) ([]any, error) {
	return func(c *native.Call, _ []any) ([]any, error) {
		return []any{get(c.State).ToBig()}, nil
	}
}

func (m *Module) creditPrice(_ *native.Call, _ []any) ([]any, error) {
	return []any{m.params.CreditPriceWei.ToBig()}, nil
}

// Spent is what one Spend moved.
type Spent struct {
	// AmountWei is credits × price, taken from the reserve.
	AmountWei *uint256.Int
	// ProviderWei went to the provider: AmountWei × ProviderSharePercent /
	// 100, rounded down.
	ProviderWei *uint256.Int
	// BurnedWei was burned: AmountWei − ProviderWei (the rounding remainder
	// is burned, never paid).
	BurnedWei *uint256.Int
}

// Split returns how spending credits divides between provider and burn under
// the module's params, without touching state.
func (m *Module) Split(credits *uint256.Int) (Spent, error) {
	amount, overflow := new(uint256.Int).MulOverflow(credits, m.params.CreditPriceWei)
	if overflow {
		return Spent{}, fmt.Errorf("%w: %s credits × %s wei", ErrOverflow, credits, m.params.CreditPriceWei)
	}
	// amount × share / 100 with a 512-bit intermediate: never overflows,
	// and the quotient is at most amount.
	provider, _ := new(uint256.Int).MulDivOverflow(amount, uint256.NewInt(m.params.ProviderSharePercent), uint256.NewInt(100))
	burned := new(uint256.Int).Sub(amount, provider)
	return Spent{AmountWei: amount, ProviderWei: provider, BurnedWei: burned}, nil
}

// Spend is the module's host API for other chain-native modules (jobs,
// relay): it takes credits from from's balance and settles their wei from
// the reserve, ProviderSharePercent to provider and the rest burned, and
// emits CreditsSpent. c is the calling module's Call, from inside one of its
// mutating methods; the caller must include SpendGas in that method's gas.
// Spend changes nothing when it returns an error, and the caller should
// revert with it. There is no ABI method behind it: no transaction or
// contract can spend credits except through another module's rules.
func (m *Module) Spend(c *native.Call, from, provider common.Address, credits *uint256.Int) (Spent, error) {
	if c == nil || c.Module == native.CreditsAddress || !native.IsReserved(c.Module) {
		return Spent{}, ErrNotModule
	}
	if credits == nil || credits.IsZero() {
		return Spent{}, ErrZeroCredits
	}
	if provider == (common.Address{}) {
		return Spent{}, fmt.Errorf("%w: spend provider", ErrZeroAddress)
	}
	h := c.Host(native.CreditsAddress, &m.abi)
	balance := h.LoadUint(CreditsKey(from))
	if balance.Lt(credits) {
		return Spent{}, fmt.Errorf("%w: %s holds %s, spend of %s", ErrInsufficientCredits, from, balance, credits)
	}
	s, err := m.Split(credits)
	if err != nil {
		return Spent{}, err
	}
	total := h.LoadUint(native.Slot(slotTotal))
	reserve := h.LoadUint(native.Slot(slotReserve))
	if total.Lt(credits) || reserve.Lt(s.AmountWei) || h.State.GetBalance(native.CreditsAddress).Lt(s.AmountWei) {
		return Spent{}, fmt.Errorf("%w: credits: reserve %s wei or total %s below a balance", native.ErrInternal, reserve, total) // broken invariant
	}
	burned, overflow := new(uint256.Int).AddOverflow(h.LoadUint(native.Slot(slotBurned)), s.BurnedWei)
	if overflow {
		return Spent{}, fmt.Errorf("%w: burned", ErrOverflow)
	}
	paid, overflow := new(uint256.Int).AddOverflow(h.LoadUint(native.Slot(slotPaid)), s.ProviderWei)
	if overflow {
		return Spent{}, fmt.Errorf("%w: paid", ErrOverflow)
	}
	// All checks are done: from here nothing fails (the balance was
	// checked above), so no partial write is left behind.
	h.StoreUint(CreditsKey(from), balance.Sub(balance, credits))
	h.StoreUint(native.Slot(slotTotal), total.Sub(total, credits))
	h.StoreUint(native.Slot(slotReserve), reserve.Sub(reserve, s.AmountWei))
	h.StoreUint(native.Slot(slotBurned), burned)
	h.StoreUint(native.Slot(slotPaid), paid)
	if err := h.Pay(provider, s.ProviderWei); err != nil {
		return Spent{}, err
	}
	if err := h.Burn(native.BurnRent, s.BurnedWei); err != nil {
		return Spent{}, err
	}
	return s, h.Emit("CreditsSpent", from, provider, credits.ToBig(), s.ProviderWei.ToBig(), s.BurnedWei.ToBig())
}
