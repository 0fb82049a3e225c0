package txpool

// Method: arbitrary bytes go through the wire decoder
// (Transaction.UnmarshalBinary) and, when they decode, through Add against a
// pool with a few funded accounts. Whatever happens, the pool must not panic
// and checkInternals must hold. Decoded transactions must re-encode to the
// input (the encoding is canonical).

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
)

func FuzzDecodeAndAdd(f *testing.F) {
	key := testKey(0)
	for _, tx := range []*types.Transaction{
		tipTx(key, 0, 1),
		tipTx(key, 3, 2),
		legacyTx(key, 1, 2*gwei),
		types.MustSignNewTx(key, testSigner, &types.AccessListTx{ChainID: big.NewInt(testChainID), Nonce: 2,
			GasPrice: big.NewInt(2 * gwei), Gas: 30_000, To: &recipient, Data: []byte{1, 2, 3}}),
		types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(1)), &types.DynamicFeeTx{ChainID: big.NewInt(1),
			GasFeeCap: big.NewInt(gwei), GasTipCap: big.NewInt(1), Gas: transferGas, To: &recipient}),
	} {
		raw, err := tx.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte{0x03, 0xc0})
	f.Add([]byte{0x04, 0xc1, 0x80})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		var tx types.Transaction
		if err := tx.UnmarshalBinary(raw); err != nil {
			return
		}
		if tx.Type() != types.BlobTxType { // blob txs may carry a sidecar form that re-encodes differently
			out, err := tx.MarshalBinary()
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(out, raw) {
				t.Fatalf("decode/encode not canonical:\n in %x\nout %x", raw, out)
			}
		}
		env := newTestEnv(t, Config{GlobalSlots: 8, AccountQueue: 4})
		env.fund(key, 0, eth(1000))
		errs := env.add(false, &tx)
		if errs[0] == nil {
			// Admitted: it must be findable, and adding it again is known.
			if env.pool.Get(tx.Hash()) == nil {
				t.Fatal("admitted tx not found")
			}
			if err := env.add(false, &tx)[0]; err == nil {
				t.Fatal("second add succeeded")
			}
		}
		drain(env.pool.Ordered(nil))
		env.block(testBaseFee)
	})
}
