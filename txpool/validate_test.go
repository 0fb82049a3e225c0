package txpool

// Method: one table row per rejection. Each row builds a fresh pool with one
// funded sender, optionally runs a setup step, adds the transaction under
// test and asserts both errors.Is against the sentinel and that the text
// starts with go-ethereum's wording (what wallets match on).

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

func TestRejections(t *testing.T) {
	key := testKey(0)
	tooBig := new(big.Int).Lsh(big.NewInt(1), 256)
	signed := func(data types.TxData) *types.Transaction { return types.MustSignNewTx(key, testSigner, data) }
	dyn := func(mod func(*types.DynamicFeeTx)) *types.Transaction {
		d := &types.DynamicFeeTx{ChainID: big.NewInt(testChainID), GasFeeCap: big.NewInt(10 * gwei),
			GasTipCap: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: big.NewInt(1)}
		mod(d)
		return signed(d)
	}
	tests := []struct {
		name    string
		cfg     func(*Config)
		balance *uint256.Int // default 1000 eth
		nonce   uint64       // state nonce
		setup   []*types.Transaction
		tx      *types.Transaction
		want    error
		text    string
		also    error // a second sentinel errors.Is must find
	}{
		{name: "blob tx type",
			tx:   types.NewTx(&types.BlobTx{ChainID: uint256.NewInt(testChainID), GasFeeCap: uint256.NewInt(gwei), GasTipCap: uint256.NewInt(1), Gas: transferGas, Value: uint256.NewInt(0)}),
			want: ErrTxTypeNotSupported, text: "transaction type not supported"},
		{name: "set-code tx type",
			tx:   types.NewTx(&types.SetCodeTx{ChainID: uint256.NewInt(testChainID), GasFeeCap: uint256.NewInt(gwei), GasTipCap: uint256.NewInt(1), Gas: transferGas, Value: uint256.NewInt(0)}),
			want: ErrTxTypeNotSupported, text: "transaction type not supported"},
		{name: "oversized",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.Data = make([]byte, 128*1024+1); d.Gas = 10_000_000 }),
			want: ErrOversizedData, text: "oversized data"},
		{name: "init code over EIP-3860 limit",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.To = nil; d.Data = make([]byte, 49153); d.Gas = 10_000_000 }),
			want: ErrMaxInitCodeSizeExceeded, text: "max initcode size exceeded"},
		{name: "negative value",
			tx:   types.NewTx(&types.LegacyTx{GasPrice: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: big.NewInt(-1), V: big.NewInt(2*testChainID + 35), R: big.NewInt(1), S: big.NewInt(1)}),
			want: ErrNegativeValue, text: "negative value"},
		{name: "over block gas limit",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.Gas = testGasLimit + 1 }),
			want: ErrGasLimit, text: "exceeds block gas limit"},
		{name: "fee cap over 256 bits",
			tx:   types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(testChainID), GasFeeCap: tooBig, GasTipCap: big.NewInt(1), Gas: transferGas, To: &recipient, Value: big.NewInt(0)}),
			want: ErrFeeCapVeryHigh, text: "max fee per gas higher than 2^256-1"},
		{name: "tip over 256 bits",
			tx:   types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(testChainID), GasFeeCap: big.NewInt(1), GasTipCap: tooBig, Gas: transferGas, To: &recipient, Value: big.NewInt(0)}),
			want: ErrTipVeryHigh, text: "max priority fee per gas higher than 2^256-1"},
		{name: "tip above fee cap",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.GasTipCap = big.NewInt(11 * gwei) }),
			want: ErrTipAboveFeeCap, text: "max priority fee per gas higher than max fee per gas"},
		{name: "unprotected legacy",
			tx:   types.MustSignNewTx(key, types.HomesteadSigner{}, &types.LegacyTx{GasPrice: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: big.NewInt(1)}),
			want: ErrUnprotectedTx, text: "only replay-protected (EIP-155) transactions allowed over RPC"},
		{name: "wrong chain id (dynamic fee)",
			tx: types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(1)), &types.DynamicFeeTx{ChainID: big.NewInt(1), GasFeeCap: big.NewInt(10 * gwei),
				GasTipCap: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: big.NewInt(1)}),
			want: ErrInvalidSender, also: ErrInvalidChainID, text: "invalid sender: invalid chain id for signer"},
		{name: "wrong chain id (legacy EIP-155)",
			tx:   types.MustSignNewTx(key, types.NewEIP155Signer(big.NewInt(1)), &types.LegacyTx{GasPrice: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: big.NewInt(1)}),
			want: ErrInvalidSender, also: ErrInvalidChainID, text: "invalid sender: invalid chain id for signer"},
		{name: "bad signature values",
			tx:   types.NewTx(&types.LegacyTx{GasPrice: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: big.NewInt(1), V: big.NewInt(2*testChainID + 35), R: big.NewInt(0), S: big.NewInt(1)}),
			want: ErrInvalidSender, text: "invalid sender"},
		{name: "nonce max (EIP-2681)",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.Nonce = ^uint64(0) }),
			want: ErrNonceMax, text: "nonce has max value"},
		{name: "intrinsic gas too low",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.Gas = transferGas - 1 }),
			want: ErrIntrinsicGas, text: "intrinsic gas too low"},
		{name: "intrinsic gas counts calldata",
			tx:   dyn(func(d *types.DynamicFeeTx) { d.Data = []byte{1}; d.Gas = transferGas }),
			want: ErrIntrinsicGas, text: "intrinsic gas too low"},
		{name: "tip below configured minimum",
			cfg:  func(c *Config) { c.MinTip = big.NewInt(2 * gwei) },
			tx:   dynTx(key, 0, 10*gwei, gwei),
			want: ErrTxGasPriceTooLow, text: "transaction gas price below minimum"},
		{name: "fee cap below next base fee",
			tx:   dynTx(key, 0, testBaseFee-1, 0),
			want: ErrFeeCapTooLow, text: "max fee per gas less than block base fee"},
		{name: "legacy gas price below next base fee",
			tx:   legacyTx(key, 0, testBaseFee-1),
			want: ErrFeeCapTooLow, text: "max fee per gas less than block base fee"},
		{name: "nonce too low",
			nonce: 5, tx: tipTx(key, 4, 1),
			want: ErrNonceTooLow, text: "nonce too low"},
		{name: "insufficient funds for this tx",
			balance: uint256.NewInt(transferGas*100*gwei - 1 + 1), // cost is gas*feeCap + value(1)
			tx:      tipTx(key, 0, 1),
			want:    ErrInsufficientFunds, text: "insufficient funds for gas * price + value"},
		{name: "insufficient funds with pooled txs",
			balance: uint256.NewInt(2*(transferGas*100*gwei+1) - 1),
			setup:   []*types.Transaction{tipTx(key, 0, 1)},
			tx:      tipTx(key, 1, 1),
			want:    ErrInsufficientFunds, text: "insufficient funds for gas * price + value"},
		{name: "insufficient funds for replacement bump",
			balance: uint256.NewInt(transferGas*100*gwei + 1),
			setup:   []*types.Transaction{tipTx(key, 0, 1)},
			tx:      dynTx(key, 0, 200*gwei, 2*gwei),
			want:    ErrInsufficientFunds, text: "insufficient funds for gas * price + value"},
		{name: "already known",
			setup: []*types.Transaction{tipTx(key, 0, 1)},
			tx:    tipTx(key, 0, 1),
			want:  ErrAlreadyKnown, text: "already known"},
		{name: "replacement underpriced",
			setup: []*types.Transaction{tipTx(key, 0, 1)},
			tx:    dynTx(key, 0, 100*gwei, 2*gwei), // tip doubled, fee cap unchanged
			want:  ErrReplaceUnderpriced, text: "replacement transaction underpriced"},
		{name: "account pending limit",
			cfg:   func(c *Config) { c.AccountSlots = 2 },
			setup: []*types.Transaction{tipTx(key, 0, 1), tipTx(key, 1, 1)},
			tx:    tipTx(key, 2, 1),
			want:  ErrAccountLimitExceeded, text: "account limit exceeded"},
		{name: "account queue limit",
			cfg:   func(c *Config) { c.AccountQueue = 1 },
			setup: []*types.Transaction{tipTx(key, 5, 1)},
			tx:    tipTx(key, 6, 1),
			want:  ErrAccountLimitExceeded, text: "account limit exceeded"},
		{name: "pool full, cheaper than everything",
			cfg:   func(c *Config) { c.GlobalSlots = 1 },
			setup: []*types.Transaction{tipTx(testKey(1), 0, 5)},
			tx:    tipTx(key, 0, 1),
			want:  ErrPoolFull, text: "txpool is full"},
		{name: "pool full, equal price",
			cfg:   func(c *Config) { c.GlobalSlots = 1 },
			setup: []*types.Transaction{tipTx(testKey(1), 0, 5)},
			tx:    tipTx(key, 0, 5),
			want:  ErrPoolFull, text: "txpool is full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			env := newTestEnv(t, cfg)
			bal := tt.balance
			if bal == nil {
				bal = eth(1000)
			}
			env.fund(key, tt.nonce, bal)
			env.fund(testKey(1), 0, eth(1000))
			env.mustAdd(tt.setup...)
			pending, queued := env.pool.Stats()
			err := env.add(false, tt.tx)[0]
			if !errors.Is(err, tt.want) {
				t.Fatalf("have %v, want %v", err, tt.want)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Fatalf("have %v, want it to wrap %v too", err, tt.also)
			}
			if !strings.HasPrefix(err.Error(), tt.text) {
				t.Fatalf("text %q does not start with %q", err, tt.text)
			}
			env.wantStats(pending, queued) // a rejection changes nothing
			if h := tt.tx.Hash(); !errors.Is(err, ErrAlreadyKnown) && env.pool.Has(h) {
				t.Fatalf("rejected tx %v is in the pool", h)
			}
		})
	}
}

// TestErrorTexts pins the sentinels to go-ethereum's exact wording.
func TestErrorTexts(t *testing.T) {
	for err, text := range map[error]string{
		ErrNonceTooLow:        "nonce too low",
		ErrInsufficientFunds:  "insufficient funds for gas * price + value",
		ErrIntrinsicGas:       "intrinsic gas too low",
		ErrFeeCapTooLow:       "max fee per gas less than block base fee",
		ErrOversizedData:      "oversized data",
		ErrInvalidSender:      "invalid sender",
		ErrInvalidChainID:     "invalid chain id for signer",
		ErrTxTypeNotSupported: "transaction type not supported",
		ErrAlreadyKnown:       "already known",
		ErrReplaceUnderpriced: "replacement transaction underpriced",
		ErrPoolFull:           "txpool is full",
		ErrGasLimit:           "exceeds block gas limit",
		ErrTipAboveFeeCap:     "max priority fee per gas higher than max fee per gas",
		ErrNegativeValue:      "negative value",
		ErrFeeCapVeryHigh:     "max fee per gas higher than 2^256-1",
		ErrTipVeryHigh:        "max priority fee per gas higher than 2^256-1",
	} {
		if err.Error() != text {
			t.Errorf("have %q, want %q", err, text)
		}
	}
}

// TestAcceptedTypes admits one of each accepted type.
func TestAcceptedTypes(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := testKey(0)
	env.fund(key, 0, eth(10))
	al := types.AccessList{{Address: common.Address{1}, StorageKeys: []common.Hash{{2}}}}
	env.mustAdd(
		legacyTx(key, 0, 2*gwei),
		types.MustSignNewTx(key, testSigner, &types.AccessListTx{ChainID: big.NewInt(testChainID), Nonce: 1, GasPrice: big.NewInt(2 * gwei),
			Gas: transferGas + 2400 + 1900, To: &recipient, AccessList: al}),
		tipTx(key, 2, 1),
	)
	env.wantStats(3, 0)
}

// TestReplacementBump checks the 10% rule at its edges, in both lists.
func TestReplacementBump(t *testing.T) {
	const fee, tip = 10_000 * gwei, 1_000 * gwei
	tests := []struct {
		name        string
		feeCap, tip uint64
		ok          bool
	}{
		{"exactly 10% on both", fee * 110 / 100, tip * 110 / 100, true},
		{"more than 10% on both", fee * 2, tip * 2, true},
		{"fee cap 9.99%", fee*110/100 - gwei, tip * 110 / 100, false},
		{"tip 9.99%", fee * 110 / 100, tip*110/100 - gwei, false},
		{"fee cap 10% - 1 wei", fee*110/100 - 1, tip * 110 / 100, false},
		{"tip unchanged", fee * 2, tip, false},
		{"same price", fee, tip, false},
		{"lower", fee / 2, tip / 2, false},
	}
	for _, tt := range tests {
		for _, queued := range []bool{false, true} {
			name := tt.name + "/pending"
			if queued {
				name = tt.name + "/queued"
			}
			t.Run(name, func(t *testing.T) {
				env := newTestEnv(t, Config{})
				key := testKey(0)
				env.fund(key, 0, eth(1000))
				nonce := uint64(0)
				if queued {
					nonce = 3
				}
				old := dynTx(key, nonce, fee, tip)
				env.mustAdd(old)
				repl := types.MustSignNewTx(key, testSigner, &types.DynamicFeeTx{ChainID: big.NewInt(testChainID), Nonce: nonce,
					GasFeeCap: new(big.Int).SetUint64(tt.feeCap), GasTipCap: new(big.Int).SetUint64(tt.tip),
					Gas: transferGas, To: &recipient, Value: big.NewInt(2)}) // value differs: never the same hash
				err := env.add(false, repl)[0]
				if tt.ok != (err == nil) {
					t.Fatalf("have err %v, want ok=%v", err, tt.ok)
				}
				if !tt.ok && !errors.Is(err, ErrReplaceUnderpriced) {
					t.Fatalf("have %v, want ErrReplaceUnderpriced", err)
				}
				if tt.ok {
					if env.pool.Has(old.Hash()) || !env.pool.Has(repl.Hash()) {
						t.Fatal("replacement did not take the old one's place")
					}
					if queued {
						env.wantStats(0, 1)
					} else {
						env.wantStats(1, 0)
					}
				}
			})
		}
	}
}

// TestReplacementBumpSmallValues: the threshold rounds down, as geth's.
func TestReplacementBumpSmallValues(t *testing.T) {
	mk := func(fee, tip int64) *types.Transaction {
		return types.NewTx(&types.DynamicFeeTx{GasFeeCap: big.NewInt(fee), GasTipCap: big.NewInt(tip)})
	}
	if !replaces(mk(15, 5), mk(16, 6), 10) { // thresholds 16 (16.5↓), 5 (5.5↓); must still be strictly higher
		t.Fatal("16/6 should replace 15/5")
	}
	if replaces(mk(15, 5), mk(16, 5), 10) {
		t.Fatal("unchanged tip must not replace")
	}
}

// TestChainConfigRules: with a chain config the pool follows its forks
// (here Prague, whose EIP-7623 calldata floor applies) and NextBaseFee
// overrides the EIP-1559 computation.
func TestChainConfigRules(t *testing.T) {
	cfg := Config{
		ChainConfig: params.AllDevChainProtocolChanges,
		NextBaseFee: func(*types.Header) *big.Int { return big.NewInt(5 * gwei) },
	}
	env := newTestEnv(t, cfg)
	key := testKey(0)
	env.fund(key, 0, eth(10))
	data := bytes.Repeat([]byte{1}, 1000) // intrinsic 37,000; floor 61,000
	mk := func(nonce, gas, feeCap uint64) *types.Transaction {
		return types.MustSignNewTx(key, testSigner, &types.DynamicFeeTx{ChainID: big.NewInt(testChainID), Nonce: nonce,
			GasFeeCap: new(big.Int).SetUint64(feeCap), GasTipCap: big.NewInt(1), Gas: gas, To: &recipient, Data: data})
	}
	if err := env.add(false, mk(0, 40_000, 10*gwei))[0]; !errors.Is(err, ErrFloorDataGas) {
		t.Fatalf("have %v, want ErrFloorDataGas", err)
	}
	if err := env.add(false, mk(0, 61_000, 4*gwei))[0]; !errors.Is(err, ErrFeeCapTooLow) {
		t.Fatalf("have %v, want ErrFeeCapTooLow", err)
	}
	env.mustAdd(mk(0, 61_000, 5*gwei))

	// Default rules (Cancun, no floor): the same shape is admitted at 40,000.
	env2 := newTestEnv(t, Config{})
	env2.fund(key, 0, eth(10))
	env2.mustAdd(mk(0, 40_000, 10*gwei))
}
