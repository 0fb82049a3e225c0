package main

// The signing CLI shared by the commands that send transactions (credits,
// and later stake and rewards): resolve a key, dial a node, send one
// EIP-1559 transaction, wait for its receipt and report the outcome.
//
// Key sources, exactly one of:
//   - --datadir DIR: the first (or --from) account of DIR/keystore, unlocked
//     with --password FILE, else the password key of DIR/config.toml, else
//     DIR/password (where `emcd testnet` puts it);
//   - --keystore DIR --password FILE [--from ADDR];
//   - --dev-account N: account N of the test mnemonic (genesis.TestMnemonic),
//     refused unless the node's chain id is the dev chain's (1337) or a
//     testnet's (see isTestChainID).

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/state/native"
)

// Testnet chain ids are [TestnetChainIDMin, TestnetChainIDMax]: a chain id
// there marks a local or public test network, whose keys may come from the
// test mnemonic (--dev-account). `emcd testnet` defaults to 4242. Mainnet and
// any production network must use a chain id outside this range and other
// than params.DevChainID.
const (
	TestnetChainIDMin = 4200
	TestnetChainIDMax = 4299
)

// isTestChainID reports whether --dev-account keys may sign for chainID.
func isTestChainID(chainID *big.Int) bool {
	if chainID == nil || !chainID.IsUint64() {
		return false
	}
	id := chainID.Uint64()
	return id == params.DevChainID || (id >= TestnetChainIDMin && id <= TestnetChainIDMax)
}

// Errors of the signing CLI.
var (
	errNoKeySource    = errors.New("no signing key: give --datadir DIR, --keystore DIR --password FILE, or --dev-account N")
	errKeySources     = errors.New("give only one of --datadir, --keystore and --dev-account")
	errNotTestChain   = errors.New("--dev-account keys are public (the test mnemonic): refused on a chain that is neither dev nor testnet")
	errReverted       = errors.New("transaction reverted")
	errReceiptTimeout = errors.New("no receipt before the timeout")
)

// rpcFlags are the flags of every command that talks to a node.
type rpcFlags struct {
	url     string
	rpcAddr string // the node's rpc.addr, from DATADIR/config.toml or EMCD_RPC_ADDR
	timeout time.Duration
	json    bool
}

func (f *rpcFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.url, "rpc", "", "JSON-RPC URL of the node (default: the data dir's rpc.addr, else http://127.0.0.1:8545)")
	fs.StringVar(&f.rpcAddr, "rpc.addr", "", "the node's JSON-RPC listen address (normally read from the data dir's config)")
	_ = fs.MarkHidden("rpc.addr")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "give up waiting for the node or the receipt after this long")
	fs.BoolVar(&f.json, "json", false, "print the outcome as one JSON object (for scripts)")
}

// endpoint is --rpc, else http:// the node's rpc.addr (a wildcard host
// becomes loopback), else the default.
func (f *rpcFlags) endpoint() string {
	if f.url != "" {
		return f.url
	}
	if f.rpcAddr != "" {
		host, port, err := net.SplitHostPort(f.rpcAddr)
		if err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			return "http://" + net.JoinHostPort(host, port)
		}
	}
	return "http://" + params.DefaultRPCAddr
}

// keyFlags select the signing key.
type keyFlags struct {
	keystore   string
	password   string
	from       string
	devAccount int
}

func (f *keyFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.keystore, "keystore", "", "keystore directory holding the signing key")
	fs.StringVar(&f.password, "password", "", "file whose first line is the keystore password")
	fs.StringVar(&f.from, "from", "", "account of the keystore to sign with (default: its only or first account)")
	fs.IntVar(&f.devAccount, "dev-account", -1, fmt.Sprintf("sign with test-mnemonic account N (0…%d; dev and testnet chains only)", genesis.DevAccountCount-1))
}

// signer is a resolved key.
type signer struct {
	key  *ecdsa.PrivateKey
	addr common.Address
	dev  bool // from the test mnemonic: only for test chains
}

// keySource is where the key lives, before it is unlocked: the address can
// be known without the password (for read-only commands).
type keySource struct {
	f       *keyFlags
	dataDir string // --datadir, "" if not given
}

func (s keySource) given() bool {
	return s.dataDir != "" || s.f.keystore != "" || s.f.devAccount >= 0
}

func (s keySource) check() error {
	n := 0
	for _, b := range []bool{s.dataDir != "", s.f.keystore != "", s.f.devAccount >= 0} {
		if b {
			n++
		}
	}
	switch {
	case n == 0:
		return errNoKeySource
	case n > 1:
		return errKeySources
	}
	if s.f.devAccount >= genesis.DevAccountCount {
		return fmt.Errorf("--dev-account %d: the test mnemonic has accounts 0…%d", s.f.devAccount, genesis.DevAccountCount-1)
	}
	return nil
}

// account finds the keystore account to use.
func (s keySource) account() (common.Address, string, error) {
	dir := s.f.keystore
	if s.dataDir != "" {
		dir = config.NewDataDir(s.dataDir).Keystore()
	}
	ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
	accts := ks.Accounts()
	if len(accts) == 0 {
		return common.Address{}, "", fmt.Errorf("no key in keystore %s", dir)
	}
	if s.f.from == "" {
		return accts[0].Address, accts[0].URL.Path, nil
	}
	if !common.IsHexAddress(s.f.from) {
		return common.Address{}, "", fmt.Errorf("--from %q is not an address", s.f.from)
	}
	want := common.HexToAddress(s.f.from)
	for _, a := range accts {
		if a.Address == want {
			return a.Address, a.URL.Path, nil
		}
	}
	return common.Address{}, "", fmt.Errorf("--from %s is not in keystore %s", want.Hex(), dir)
}

// address returns the signing address without unlocking the key.
func (s keySource) address() (common.Address, error) {
	if err := s.check(); err != nil {
		return common.Address{}, err
	}
	if s.f.devAccount >= 0 {
		keys, err := genesis.DevAccountKeys(s.f.devAccount + 1)
		if err != nil {
			return common.Address{}, err
		}
		return crypto.PubkeyToAddress(keys[s.f.devAccount].PublicKey), nil
	}
	addr, _, err := s.account()
	return addr, err
}

// unlock resolves and decrypts the key.
func (s keySource) unlock() (*signer, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.f.devAccount >= 0 {
		keys, err := genesis.DevAccountKeys(s.f.devAccount + 1)
		if err != nil {
			return nil, err
		}
		k := keys[s.f.devAccount]
		return &signer{key: k, addr: crypto.PubkeyToAddress(k.PublicKey), dev: true}, nil
	}
	addr, path, err := s.account()
	if err != nil {
		return nil, err
	}
	pwFile := s.f.password
	if pwFile == "" && s.dataDir != "" {
		if p := filepath.Join(s.dataDir, "password"); fileExists(p) {
			pwFile = p
		}
	}
	if pwFile == "" {
		return nil, fmt.Errorf("--password FILE is required to unlock %s", addr.Hex())
	}
	pw, err := readPassword(pwFile, "", false, nil, io.Discard)
	if err != nil {
		return nil, err
	}
	keyJSON, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key, err := keystore.DecryptKey(keyJSON, pw)
	if err != nil {
		return nil, fmt.Errorf("unlock %s: %w", addr.Hex(), err)
	}
	return &signer{key: key.PrivateKey, addr: addr}, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// rpcNode is a dialled node.
type rpcNode struct {
	rpc     *rpc.Client
	eth     *ethclient.Client
	chainID *big.Int
	url     string
}

func dialNode(ctx context.Context, url string) (*rpcNode, error) {
	c, err := rpc.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	eth := ethclient.NewClient(c)
	id, err := eth.ChainID(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("eth_chainId at %s: %w", url, err)
	}
	return &rpcNode{rpc: c, eth: eth, chainID: id, url: url}, nil
}

func (n *rpcNode) Close() { n.rpc.Close() }

// checkSigner refuses test-mnemonic keys on chains that are not dev or
// testnet chains. Commands call it right after dialling, and sendTx again.
func checkSigner(n *rpcNode, s *signer) error {
	if s.dev && !isTestChainID(n.chainID) {
		return fmt.Errorf("%w: chain id %s at %s", errNotTestChain, n.chainID, n.url)
	}
	return nil
}

// txRequest is one transaction to send.
type txRequest struct {
	To    common.Address
	Value *big.Int
	Data  []byte
	// Gas, if non-zero, is used as is (no estimate): a transaction that
	// would revert is then mined and reverts on chain.
	Gas uint64
	// ABIs decode custom errors in revert data.
	ABIs []*abi.ABI
}

// txOutcome is what happened to a transaction; its JSON form is the --json
// output of every signing command (commands add a "result" object).
type txOutcome struct {
	From         common.Address `json:"from"`
	To           common.Address `json:"to"`
	ValueWei     string         `json:"valueWei"`
	ChainID      uint64         `json:"chainId"`
	TxHash       *common.Hash   `json:"txHash"`      // null when nothing was sent
	Status       string         `json:"status"`      // "success", "reverted" or "rejected" (estimate failed: not sent)
	Block        *uint64        `json:"blockNumber"` // null when not mined
	GasUsed      uint64         `json:"gasUsed"`
	RevertReason string         `json:"revertReason,omitempty"`
	Result       any            `json:"result,omitempty"`
}

// sendTx signs req with s and sends it over n: nonce from the pending state,
// EIP-1559 fees (tip from eth_maxPriorityFeePerGas, cap 2 × base fee + tip),
// gas from eth_estimateGas plus 10 % unless req.Gas is set. It waits for the
// receipt until ctx ends. A revert, on chain or already in the estimate, is
// an outcome (Status "reverted"/"rejected"), not an error; errors are
// transport and signing failures.
func sendTx(ctx context.Context, n *rpcNode, s *signer, req txRequest) (*txOutcome, error) {
	if err := checkSigner(n, s); err != nil {
		return nil, err
	}
	value := req.Value
	if value == nil {
		value = new(big.Int)
	}
	out := &txOutcome{From: s.addr, To: req.To, ValueWei: value.String(), ChainID: n.chainID.Uint64()}
	gas := req.Gas
	if gas == 0 {
		to := req.To
		est, err := n.eth.EstimateGas(ctx, ethereum.CallMsg{From: s.addr, To: &to, Value: value, Data: req.Data})
		if err != nil {
			if data, ok := revertData(err); ok {
				out.Status = "rejected"
				out.RevertReason = decodeRevert(data, req.ABIs...)
				return out, nil
			}
			return nil, fmt.Errorf("eth_estimateGas: %w", err)
		}
		gas = est + est/10
	}
	nonce, err := n.eth.PendingNonceAt(ctx, s.addr)
	if err != nil {
		return nil, fmt.Errorf("pending nonce of %s: %w", s.addr.Hex(), err)
	}
	tip, err := n.eth.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("eth_maxPriorityFeePerGas: %w", err)
	}
	head, err := n.eth.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("latest header: %w", err)
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	to := req.To
	tx, err := types.SignNewTx(s.key, types.LatestSignerForChainID(n.chainID), &types.DynamicFeeTx{
		ChainID: n.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas,
		To: &to, Value: value, Data: req.Data,
	})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := n.eth.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("eth_sendRawTransaction: %w", err)
	}
	hash := tx.Hash()
	out.TxHash = &hash
	rcpt, err := awaitReceipt(ctx, n.eth, hash)
	if err != nil {
		return nil, fmt.Errorf("transaction %s: %w", hash.Hex(), err)
	}
	bn := rcpt.BlockNumber.Uint64()
	out.Block, out.GasUsed = &bn, rcpt.GasUsed
	if rcpt.Status == types.ReceiptStatusSuccessful {
		out.Status = "success"
		return out, nil
	}
	out.Status = "reverted"
	out.RevertReason = replayReason(ctx, n, s.addr, tx, rcpt, req.ABIs)
	return out, nil
}

// awaitReceipt polls for hash's receipt until ctx ends.
func awaitReceipt(ctx context.Context, c *ethclient.Client, hash common.Hash) (*types.Receipt, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := c.TransactionReceipt(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("eth_getTransactionReceipt: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", errReceiptTimeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// replayReason re-runs a reverted transaction with eth_call on the state
// before its block (exact when it was the sender's only transaction in the
// block; the module's checks depend on little else) to recover the reason
// the receipt does not carry.
func replayReason(ctx context.Context, n *rpcNode, from common.Address, tx *types.Transaction, rcpt *types.Receipt, abis []*abi.ABI) string {
	parent := new(big.Int).Sub(rcpt.BlockNumber, big.NewInt(1))
	_, err := n.eth.CallContract(ctx, ethereum.CallMsg{From: from, To: tx.To(), Gas: tx.Gas(), Value: tx.Value(), Data: tx.Data()}, parent)
	if data, ok := revertData(err); ok {
		return decodeRevert(data, abis...)
	}
	if err != nil {
		return "unknown (replay failed: " + err.Error() + ")"
	}
	return "unknown (the replay succeeded; out of gas?)"
}

// revertData extracts the revert data a node attaches to an execution
// error (go-ethereum's rpc.DataError with a 0x-hex string).
func revertData(err error) ([]byte, bool) {
	var de rpc.DataError
	if err == nil || !errors.As(err, &de) {
		return nil, false
	}
	s, ok := de.ErrorData().(string)
	if !ok {
		return nil, false
	}
	b, herr := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	return b, herr == nil
}

// decodeRevert renders revert data: Error(string) as its text,
// Panic(uint256) as "panic 0x..", a custom error of one of abis as
// Name(args), anything else as hex.
func decodeRevert(data []byte, abis ...*abi.ABI) string {
	if len(data) == 0 {
		return "reverted without a reason"
	}
	if s, err := abi.UnpackRevert(data); err == nil {
		return s
	}
	if len(data) >= 4 {
		for _, a := range abis {
			if a == nil {
				continue
			}
			for _, e := range a.Errors {
				if [4]byte(e.ID[:4]) != [4]byte(data[:4]) {
					continue
				}
				args, err := e.Inputs.Unpack(data[4:])
				if err != nil {
					continue
				}
				parts := make([]string, len(args))
				for i, v := range args {
					parts[i] = fmt.Sprint(v)
				}
				return e.Name + "(" + strings.Join(parts, ", ") + ")"
			}
		}
	}
	return "0x" + hex.EncodeToString(data)
}

// report prints out as text (the summary line and details) or JSON, and
// turns a revert into a non-zero exit carrying the reason.
func report(w io.Writer, asJSON bool, out *txOutcome, summary string) error {
	if asJSON {
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else {
		switch out.Status {
		case "success":
			fmt.Fprintf(w, "%s\ntx %s in block %d, gas used %d\n", summary, out.TxHash.Hex(), *out.Block, out.GasUsed)
		case "reverted":
			fmt.Fprintf(w, "tx %s reverted in block %d, gas used %d: %s\n", out.TxHash.Hex(), *out.Block, out.GasUsed, out.RevertReason)
		default:
			fmt.Fprintf(w, "not sent: the node's gas estimate reverts: %s\n", out.RevertReason)
		}
	}
	if out.Status != "success" {
		return &exitError{code: 1, err: fmt.Errorf("%w: %s", errReverted, out.RevertReason)}
	}
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// queryAddress is the account a read-only command asks about: ADDR when
// given, else the account of the key flags; what names the answer in the
// error when neither is given.
func queryAddress(args []string, ks keySource, what string) (common.Address, error) {
	switch {
	case len(args) == 1:
		if !common.IsHexAddress(args[0]) {
			return common.Address{}, fmt.Errorf("%q is not an address", args[0])
		}
		return common.HexToAddress(args[0]), nil
	case ks.given():
		return ks.address()
	}
	return common.Address{}, fmt.Errorf("give ADDR, or --datadir, --keystore or --dev-account for the signer's own %s", what)
}

// gasFlag registers --gas, shared by every command that sends a transaction.
func gasFlag(cmd *cobra.Command, gas *uint64) {
	cmd.Flags().Uint64Var(gas, "gas", 0, "gas limit (default: the node's estimate + 10 %; set it to send even a transaction that will revert)")
}

// dialRead dials the node of a read-only command within its timeout; done
// releases the connection and the timeout.
func dialRead(c *cobra.Command, rf *rpcFlags) (context.Context, *rpcNode, func(), error) {
	ctx, cancel := context.WithTimeout(c.Context(), rf.timeout)
	nd, err := dialNode(ctx, rf.endpoint())
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, nd, func() { nd.Close(); cancel() }, nil
}

// signedConn is what a signing command works with: the unlocked key and the
// node it sends through, checked to accept that key (the dev mnemonic only
// on dev and test chains).
type signedConn struct {
	ctx context.Context
	nd  *rpcNode
	s   *signer
}

// dialSigned unlocks the key the flags name, dials the node within the
// command's timeout and checks the key may sign for the node's chain. The
// returned close releases the connection and the timeout.
func dialSigned(c *cobra.Command, g *globals, rf *rpcFlags, kf *keyFlags) (*signedConn, func(), error) {
	s, err := keySource{f: kf, dataDir: g.dataDir}.unlock()
	if err != nil {
		return nil, nil, err
	}
	ctx, nd, done, err := dialRead(c, rf)
	if err != nil {
		return nil, nil, err
	}
	if err := checkSigner(nd, s); err != nil {
		done()
		return nil, nil, err
	}
	return &signedConn{ctx: ctx, nd: nd, s: s}, done, nil
}

// parseModuleABI parses a chain-native module's Solidity ABI, for the
// commands that pack calls to it.
func parseModuleABI(m native.Module) (*abi.ABI, error) {
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		return nil, fmt.Errorf("%s ABI: %w", m.Name(), err)
	}
	return &a, nil
}
