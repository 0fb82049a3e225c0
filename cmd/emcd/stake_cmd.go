package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newStakeCmd) }

func stakingABI() (*abi.ABI, error) {
	m, err := staking.New(nil)
	if err != nil {
		return nil, err
	}
	return parseModuleABI(m)
}

func newStakeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stake",
		Short: "Stake EMC for a role, set a validator signer, unstake and withdraw, over JSON-RPC",
		Long: `stake talks to the staking module (` + native.StakingAddress.Hex() + `).

A position is (owner, role): validator, router or compute, each with a
minimum stake (genesis params). Stake changes take effect at the next epoch.
A lock (0, 7d, 30d, 90d, 180d, counted in epochs) raises the staking-reward
weight and forbids unstaking until it ends. Unstaked EMC waits
unbondingEpochs before "stake withdraw" pays it. See docs/economics.md,
section "Staking".`,
	}
	cmd.AddCommand(newStakeAddCmd(g), newStakeUnstakeCmd(g), newStakeWithdrawCmd(g), newStakeSignerCmd(g), newStakeStatusCmd(g))
	return cmd
}

// parseEMC parses a decimal EMC amount ("1.5") into wei: at most 18
// fraction digits, no sign, no exponent.
func parseEMC(s string) (*big.Int, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" || hasDot && frac == "" || len(frac) > 18 {
		return nil, fmt.Errorf("%q: want a decimal EMC amount with at most 18 fraction digits", s)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return nil, fmt.Errorf("%q: want a decimal EMC amount with at most 18 fraction digits", s)
			}
		}
	}
	wei, _ := new(big.Int).SetString(whole+frac+strings.Repeat("0", 18-len(frac)), 10)
	if wei == nil {
		wei = new(big.Int)
	}
	if wei.BitLen() > 256 {
		return nil, fmt.Errorf("%q: too large", s)
	}
	return wei, nil
}

// formatEMC renders wei as decimal EMC without trailing zeros.
func formatEMC(wei *big.Int) string {
	q, r := new(big.Int).QuoRem(wei, big.NewInt(params.EMC), new(big.Int))
	if r.Sign() == 0 {
		return q.String()
	}
	frac := strings.TrimRight(fmt.Sprintf("%018s", r.String()), "0")
	return q.String() + "." + frac
}

// parseLock parses --lock: 0 (or none), 7d, 30d, 90d, 180d.
func parseLock(s string) (uint8, error) {
	if s == "none" {
		s = "0"
	}
	names := jsonrpc.LockNames()
	for i, n := range names {
		if n == s {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("--lock %q: want one of %s", s, strings.Join(names[:], ", "))
}

// stakeSend is the common path of the signing stake commands: unlock the
// key, dial, send, and on success add the position after the transaction
// to the outcome.
func stakeSend(c *cobra.Command, g *globals, rf *rpcFlags, kf *keyFlags, gas uint64, value *big.Int, method string,
	summary func(before, after *jsonrpc.StakePosition) string, args ...any) error {
	return stakeSendWith(c, g, rf, kf, gas, value, method, summary, func(context.Context, *rpcNode, *signer) ([]any, error) {
		return args, nil
	})
}

// stakeSendWith is stakeSend with arguments that depend on the node (its
// chain id, state) and the sending key: argsFn runs after dialling.
func stakeSendWith(c *cobra.Command, g *globals, rf *rpcFlags, kf *keyFlags, gas uint64, value *big.Int, method string,
	summary func(before, after *jsonrpc.StakePosition) string,
	argsFn func(ctx context.Context, nd *rpcNode, s *signer) ([]any, error)) error {
	a, err := stakingABI()
	if err != nil {
		return err
	}
	sc, done, err := dialSigned(c, g, rf, kf)
	if err != nil {
		return err
	}
	defer done()
	ctx, nd, s := sc.ctx, sc.nd, sc.s
	args, err := argsFn(ctx, nd, s)
	if err != nil {
		return err
	}
	data, err := a.Pack(method, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	out, err := sendTx(ctx, nd, s, txRequest{To: native.StakingAddress, Value: value, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
	if err != nil {
		return err
	}
	line := ""
	if out.Status == "success" {
		after, aerr := stakeOf(ctx, nd, s.addr, hexutil.EncodeUint64(*out.Block))
		before, berr := stakeOf(ctx, nd, s.addr, hexutil.EncodeUint64(*out.Block-1))
		if aerr == nil && berr == nil {
			out.Result = map[string]any{"owner": s.addr, "position": after}
			line = summary(before, after)
		} else {
			line = method + " succeeded (position not readable: " + fmt.Sprint(aerr, berr) + ")"
		}
	}
	return report(c.OutOrStdout(), rf.json, out, line)
}

func newStakeAddCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var role, amount, lock string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "add --role validator|router|compute --amount EMC [--lock 0|7d|30d|90d|180d] (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Stake EMC for a role (adding to the signer's position)",
		Long: `add sends stake(role, lock) with --amount EMC, waits for the receipt and
prints the position after it (--json for scripts). The stake counts from
the next epoch. Adding to a position keeps one lock: the one that ends
later. It exits 1 with the revert reason when the module refuses (below the
role's minimum, another role than the position's, ...).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := staking.ParseRole(role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			l, err := parseLock(lock)
			if err != nil {
				return err
			}
			wei, err := parseEMC(amount)
			if err != nil {
				return fmt.Errorf("--amount %w", err)
			}
			return stakeSend(c, g, &rf, &kf, gas, wei, "stake", func(_, p *jsonrpc.StakePosition) string {
				return fmt.Sprintf("staked %s EMC as %s; position now %s EMC, lock %s until epoch %d, effective from epoch %d",
					formatEMC(wei), r, formatEMC(p.Amount.ToInt()), p.LockName, uint64(p.UnlockEpoch), uint64(p.EffectiveFrom))
			}, uint8(r), l)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	cmd.Flags().StringVar(&role, "role", "", "validator, router or compute")
	cmd.Flags().StringVar(&amount, "amount", "", "EMC to stake (decimal, e.g. 1000000 or 0.5)")
	cmd.Flags().StringVar(&lock, "lock", "0", "lock term: 0, 7d, 30d, 90d or 180d (in epochs of the chain)")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

func newStakeUnstakeCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var amount string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "unstake --amount EMC (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Move EMC of the signer's stake into the unbonding queue",
		Long: `unstake sends unstake(amount). The amount stops counting at the next epoch
and is paid by "stake withdraw" once its release epoch is reached. It exits
1 with the revert reason while the stake is locked, or when the rest would
be non-zero but below the role's minimum (unstake all, or less).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			wei, err := parseEMC(amount)
			if err != nil {
				return fmt.Errorf("--amount %w", err)
			}
			return stakeSend(c, g, &rf, &kf, gas, nil, "unstake", func(_, p *jsonrpc.StakePosition) string {
				release := uint64(0)
				if n := len(p.Unbonding); n > 0 {
					release = uint64(p.Unbonding[n-1].ReleaseEpoch)
				}
				return fmt.Sprintf("unstaked %s EMC, released at epoch %d; position now %s EMC", formatEMC(wei), release, formatEMC(p.Amount.ToInt()))
			}, wei)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	cmd.Flags().StringVar(&amount, "amount", "", "EMC to unstake (decimal)")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

func unbondingSum(p *jsonrpc.StakePosition) *big.Int {
	sum := new(big.Int)
	for _, u := range p.Unbonding {
		sum.Add(sum, u.Amount.ToInt())
	}
	return sum
}

func newStakeWithdrawCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "withdraw (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Pay the signer's released unbonding entries",
		Long: `withdraw sends withdraw(): every unbonding entry whose release epoch has
come is paid to the signer. It exits 1 with the revert reason when nothing
is released yet.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return stakeSend(c, g, &rf, &kf, gas, nil, "withdraw", func(before, after *jsonrpc.StakePosition) string {
				paid := new(big.Int).Sub(unbondingSum(before), unbondingSum(after))
				return fmt.Sprintf("withdrew %s EMC; %s EMC still unbonding", formatEMC(paid), formatEMC(unbondingSum(after)))
			})
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

func newStakeSignerCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	var signerKey, signerPassword string
	cmd := &cobra.Command{
		Use:   "signer [ADDR] (--signer-key PATH [--signer-password FILE] | ADDR = the owner) (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Set the consensus signer (hot key) of the owner's validator position, with the signer key's consent",
		Long: `signer sends setSigner(ADDR, consent): ADDR signs consensus messages for
the validator position of the cold (owner) key that sends the transaction.
The module takes ADDR only with its consent: --signer-key PATH names the
signer's key, which signs (chain id, owner, ADDR, its consent nonce) here;
only the signature leaves this machine. PATH is a node data dir (its
consensus key: the first account of DIR/keystore, as the node loads it,
unlocked with --signer-password FILE or DIR/password), a keystore
directory (its first account) or a keystore key file. ADDR defaults to
the signer key's address; given, it must match. ADDR may not be another
owner's signer or own a position. The owner's own address clears the
signer and needs no --signer-key.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var want *common.Address
			if len(args) == 1 {
				if !common.IsHexAddress(args[0]) {
					return fmt.Errorf("%q is not an address", args[0])
				}
				a := common.HexToAddress(args[0])
				want = &a
			}
			var key *ecdsa.PrivateKey
			if signerKey != "" {
				k, err := loadSignerKey(signerKey, signerPassword)
				if err != nil {
					return err
				}
				key = k
				if got := crypto.PubkeyToAddress(k.PublicKey); want != nil && *want != got {
					return fmt.Errorf("--signer-key %s holds %s, not %s", signerKey, got.Hex(), want.Hex())
				}
			}
			if want == nil && key == nil {
				return errors.New("give ADDR (the owner's own address clears the signer) or --signer-key PATH")
			}
			return stakeSendWith(c, g, &rf, &kf, gas, nil, "setSigner", func(_, p *jsonrpc.StakePosition) string {
				return fmt.Sprintf("signer set to %s", p.Signer.Hex())
			}, func(ctx context.Context, nd *rpcNode, s *signer) ([]any, error) {
				target := want
				if target == nil {
					a := crypto.PubkeyToAddress(key.PublicKey)
					target = &a
				}
				if *target == s.addr {
					return []any{s.addr, []byte{}}, nil // clearing: the owner's transaction is its consent
				}
				if key == nil {
					return nil, fmt.Errorf("setting %s as signer needs its consent: give --signer-key PATH", target.Hex())
				}
				return signerConsentArgs(ctx, nd, s.addr, key)
			})
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	cmd.Flags().StringVar(&signerKey, "signer-key", "", "the signer's key: a node data dir (its consensus key), a keystore dir or a key file")
	cmd.Flags().StringVar(&signerPassword, "signer-password", "", "file whose first line unlocks --signer-key (default: PATH/password for a data dir)")
	return cmd
}

// signerConsentArgs returns setSigner's arguments: key's address and its
// consent to be owner's signer, over the node's chain id and the signer's
// current consent nonce (the staking module's signerNonce view).
func signerConsentArgs(ctx context.Context, nd *rpcNode, owner common.Address, key *ecdsa.PrivateKey) ([]any, error) {
	addr := crypto.PubkeyToAddress(key.PublicKey)
	a, err := stakingABI()
	if err != nil {
		return nil, err
	}
	data, err := a.Pack("signerNonce", addr)
	if err != nil {
		return nil, fmt.Errorf("signerNonce: %w", err)
	}
	to := native.StakingAddress
	ret, err := nd.eth.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("signerNonce(%s): %w", addr.Hex(), err)
	}
	out, err := a.Unpack("signerNonce", ret)
	if err != nil || len(out) != 1 {
		return nil, fmt.Errorf("signerNonce(%s): bad answer %x (is this node's staking module current?): %v", addr.Hex(), ret, err)
	}
	nonce, ok := out[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("signerNonce(%s): answer %T", addr.Hex(), out[0])
	}
	sig, err := staking.SignSignerConsent(key, nd.chainID, owner, nonce)
	if err != nil {
		return nil, err
	}
	return []any{addr, sig}, nil
}

// loadSignerKey unlocks the signer key at path: a node data dir (the first
// account of DIR/keystore, the key the node signs consensus messages with;
// password from passwordFile, else DIR/password), a keystore directory
// (its first account) or a keystore key file.
func loadSignerKey(path, passwordFile string) (*ecdsa.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--signer-key: %w", err)
	}
	keyFile, defaultPW := path, ""
	if st.IsDir() {
		dir := path
		if dd := config.NewDataDir(path); isDir(dd.Keystore()) {
			dir, defaultPW = dd.Keystore(), filepath.Join(path, "password")
		}
		ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
		accts := ks.Accounts()
		if len(accts) == 0 {
			return nil, fmt.Errorf("--signer-key %s: no key in keystore %s", path, dir)
		}
		keyFile = accts[0].URL.Path
	}
	if passwordFile == "" && defaultPW != "" && fileExists(defaultPW) {
		passwordFile = defaultPW
	}
	if passwordFile == "" {
		return nil, fmt.Errorf("--signer-password FILE is required to unlock --signer-key %s", path)
	}
	pw, err := readPassword(passwordFile, "", false, nil, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("--signer-password: %w", err)
	}
	keyJSON, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--signer-key: read key file: %w", err)
	}
	key, err := keystore.DecryptKey(keyJSON, pw)
	if err != nil {
		return nil, fmt.Errorf("--signer-key %s: unlock: %w", keyFile, err)
	}
	return key.PrivateKey, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func newStakeStatusCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var block string
	cmd := &cobra.Command{
		Use:   "status [ADDR]",
		Short: "Print ADDR's staking position (default: the account of --datadir, --keystore or --dev-account) via emc_stakeOf",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			addr, err := queryAddress(args, keySource{f: &kf, dataDir: g.dataDir}, "position")
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			p, err := stakeOf(ctx, nd, addr, block)
			if err != nil {
				return err
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), map[string]any{"address": addr, "block": block, "chainId": nd.chainID.Uint64(), "position": p})
			}
			printPosition(c.OutOrStdout(), addr, p)
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}

func printPosition(w io.Writer, addr common.Address, p *jsonrpc.StakePosition) {
	if p.Jailed {
		fmt.Fprintf(w, "%s is jailed: slashed for double signing, it can never stake as a validator again\n", addr.Hex())
	}
	if p.Role == nil {
		fmt.Fprintf(w, "%s has no staking position\n", addr.Hex())
		return
	}
	fmt.Fprintf(w, "%s: %s, %s EMC staked (effective from epoch %d; %s EMC before), lock %s until epoch %d, signer %s\n",
		addr.Hex(), *p.Role, formatEMC(p.Amount.ToInt()), uint64(p.EffectiveFrom), formatEMC(p.PreviousAmount.ToInt()),
		p.LockName, uint64(p.UnlockEpoch), p.Signer.Hex())
	for _, u := range p.Unbonding {
		fmt.Fprintf(w, "  unbonding %s EMC, released at epoch %d\n", formatEMC(u.Amount.ToInt()), uint64(u.ReleaseEpoch))
	}
}

// stakeOf calls emc_stakeOf.
func stakeOf(ctx context.Context, nd *rpcNode, addr common.Address, block string) (*jsonrpc.StakePosition, error) {
	bnh, err := parseBlockArg(block)
	if err != nil {
		return nil, err
	}
	var p jsonrpc.StakePosition
	if err := nd.rpc.CallContext(ctx, &p, "emc_stakeOf", addr, bnh); err != nil {
		return nil, fmt.Errorf("emc_stakeOf: %w", err)
	}
	if p.Amount == nil || p.PreviousAmount == nil {
		return nil, fmt.Errorf("emc_stakeOf: incomplete answer (is the staking module on this chain?)")
	}
	return &p, nil
}
