package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
)

// A dev node builds and runs its wallet: a request without a gas limit is
// estimated through eth_estimateGas's code, sent through SendTx, sealed by
// the dev sealer and its receipt delivered; the wallet's metrics are on the
// node's registry.
func TestDevNodeWallet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := New(Config{Role: RoleValidator, Dev: true, DataDir: config.NewDataDir(t.TempDir())}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	w := n.Wallet()
	if w == nil {
		t.Fatal("dev node has no wallet")
	}
	key, err := devWalletKey()
	if err != nil {
		t.Fatal(err)
	}
	if want := crypto.PubkeyToAddress(key.PublicKey); w.Address() != want {
		t.Fatalf("wallet address %v, want the dev compute owner %v", w.Address(), want)
	}
	to := common.HexToAddress("0xc0ffee")
	data := []byte{1, 2, 3}
	h, err := w.Submit(ctx, wallet.Request{To: &to, Value: big.NewInt(7), Data: data, Label: "test"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Three non-zero calldata bytes to an account without code.
	if want := params.TxGas + 3*params.TxDataNonZeroGasEIP2028; r.Status != types.ReceiptStatusSuccessful || r.GasUsed != want {
		t.Fatalf("receipt status %d gas used %d, want 1 and %d", r.Status, r.GasUsed, want)
	}
	tx, _, _, _ := n.Chain().Transaction(r.TxHash)
	// The estimate stops within geth's 1.5% error ratio of the gas used.
	if tx == nil || tx.Type() != types.DynamicFeeTxType || tx.Gas() < r.GasUsed || tx.Gas() > r.GasUsed*1015/1000+1 {
		t.Fatalf("mined tx %v: want a dynamic-fee tx with an estimated gas limit near %d", tx, r.GasUsed)
	}
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.Counter != nil {
				found[mf.GetName()] = m.Counter.GetValue()
			}
		}
	}
	if found["emcd_wallet_sent_total"] != 1 || found["emcd_wallet_mined_total"] != 1 {
		t.Fatalf("wallet metrics on the node registry: sent %v mined %v, want 1 and 1", found["emcd_wallet_sent_total"], found["emcd_wallet_mined_total"])
	}
}

// A networked node's wallet sends from its validator key; a follower
// without a key of its own (it observes consensus with a throwaway one) has
// no wallet.
func TestNetworkedNodeWalletKey(t *testing.T) {
	for _, withKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("key=%v", withKey), func(t *testing.T) {
			dd := config.NewDataDir(t.TempDir())
			pwFile := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var want common.Address
			if withKey {
				acct, err := keystore.NewKeyStore(dd.Keystore(), keystore.LightScryptN, keystore.LightScryptP).NewAccount("secret")
				if err != nil {
					t.Fatal(err)
				}
				want = acct.Address
			}
			n, err := New(Config{Role: RoleRouter, DataDir: dd, Genesis: genesis.Dev(), PasswordFile: pwFile,
				P2PAddr: "/ip4/127.0.0.1/tcp/0"}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			switch w := n.Wallet(); {
			case !withKey && w != nil:
				t.Fatalf("keyless follower has a wallet sending from %v", w.Address())
			case withKey && (w == nil || w.Address() != want):
				t.Fatalf("wallet %v, want one sending from the validator key %v", w, want)
			}
		})
	}
}
