package main

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/state"
)

func init() {
	extraCommands = append(extraCommands, newInitCmd, newGenesisCmd)
}

func newInitCmd(g *globals) *cobra.Command {
	var genesisFile string
	cmd := &cobra.Command{
		Use:   "init --genesis FILE",
		Short: "Initialise a data dir with a genesis file",
		Long: `init validates the genesis file, copies it to DATADIR/genesis.json and writes
the genesis block into DATADIR/chaindata. A data dir that already holds a
chain with another genesis is refused, with one exception: a genesis that
differs only in its "forks" schedule is taken when every fork it adds,
moves or removes activates after the chain's head. That is how a running
chain schedules an upgrade: each operator installs the emcd that knows the
fork, runs init with the new genesis file, and restarts, before the fork's
block.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if genesisFile == "" {
				return errors.New("--genesis FILE is required")
			}
			gen, err := genesis.FromFile(genesisFile)
			if err != nil {
				return err
			}
			dd := g.resolvedDataDir()
			if err := dd.Lock(); err != nil {
				return err
			}
			defer dd.Unlock()
			hash, err := openGenesis(gen, dd.ChainData(), g.storage.config())
			if err != nil {
				return err
			}
			data, err := gen.JSON()
			if err != nil {
				return err
			}
			if err := os.WriteFile(dd.GenesisFile(), append(data, '\n'), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", dd.GenesisFile(), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised %s\nchain id:     %d\ngenesis hash: %s\n", dd.Path, gen.ChainID, hash.Hex())
			return nil
		},
	}
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "genesis JSON file")
	return cmd
}

// openGenesis commits gen into the store at dir (or checks it matches).
func openGenesis(gen *genesis.Genesis, dir string, sc state.StorageConfig) (common.Hash, error) {
	mods, err := node.LoadModules(gen)
	if err != nil {
		return common.Hash{}, err
	}
	db, err := state.OpenStore(dir)
	if err != nil {
		return common.Hash{}, err
	}
	defer db.Close()
	c, err := state.OpenWithStorage(db, gen, mods, nil, sc)
	if err != nil {
		return common.Hash{}, err
	}
	if err := c.Close(); err != nil {
		return common.Hash{}, err
	}
	return c.GenesisBlock().Hash(), nil
}

// genesisSummary is what genesisTable learns by building a genesis.
type genesisSummary struct {
	block                            *types.Block
	allocWei, modulesWei, reserveWei *big.Int
}

// genesisTable builds gen's genesis state in memory with this binary's
// modules, which checks the supply table, and returns its block and sums.
func genesisTable(gen *genesis.Genesis) (*genesisSummary, error) {
	mods, err := node.LoadModules(gen)
	if err != nil {
		return nil, err
	}
	c, err := state.Open(state.OpenMemoryStore(), gen, mods, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st, err := c.StateAt(c.GenesisBlock().Root())
	if err != nil {
		return nil, err
	}
	s := &genesisSummary{block: c.GenesisBlock(), allocWei: new(big.Int), modulesWei: new(big.Int), reserveWei: new(big.Int)}
	for _, a := range gen.Alloc {
		s.allocWei.Add(s.allocWei, a.Balance)
	}
	for a := range mods.GenesisAlloc() {
		s.modulesWei.Add(s.modulesWei, st.GetBalance(a).ToBig())
	}
	if gen.Reserve != nil {
		s.reserveWei = st.GetBalance(*gen.Reserve).ToBig()
	}
	return s, nil
}

func newGenesisCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "genesis", Short: "Create or inspect genesis files"}
	var (
		chainID     uint64
		validators  []string
		allocs      []string
		period      time.Duration
		epoch       uint64
		gasLimit    uint64
		devAccounts bool
		reserve     string
		out         string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Write a new genesis file",
		Long: `create writes a genesis file. The table must hold the whole supply
(1,000,000,000 EMC): the --alloc balances plus the modules' genesis balances
(the reward pools) add up to it exactly, or --reserve ADDR names the account
that receives the rest. --dev-accounts uses the dev table (ecosystem account
150,000,000 EMC, reserve: test-mnemonic accounts 10 and 11) unless --reserve
is given.`,
		Example: `  emcd genesis create --chain-id 4242 --validator 0xabc... --alloc 0xabc...=1000000 --reserve 0xdef... --out genesis.json
  emcd genesis create --dev-accounts --validator 0xabc...   (funds the ten test-mnemonic accounts)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gen := &genesis.Genesis{
				ChainID:       math.HexOrDecimal64(chainID),
				Timestamp:     math.HexOrDecimal64(time.Now().Unix()),
				GasLimit:      math.HexOrDecimal64(gasLimit),
				BlockPeriodMs: math.HexOrDecimal64(period.Milliseconds()),
				EpochLength:   math.HexOrDecimal64(epoch),
				Alloc:         types.GenesisAlloc{},
			}
			gen.ScheduleAllForks() // a new chain starts with every rule this binary knows
			for _, v := range validators {
				if !common.IsHexAddress(v) {
					return fmt.Errorf("--validator %q is not an address", v)
				}
				gen.Validators = append(gen.Validators, common.HexToAddress(v))
			}
			for _, a := range allocs {
				addr, amount, ok := strings.Cut(a, "=")
				if !ok || !common.IsHexAddress(addr) {
					return fmt.Errorf("--alloc %q: want ADDRESS=EMC", a)
				}
				emc, ok := new(big.Int).SetString(amount, 10)
				if !ok || emc.Sign() < 0 {
					return fmt.Errorf("--alloc %q: amount must be a whole number of EMC", a)
				}
				gen.Alloc[common.HexToAddress(addr)] = types.Account{Balance: emc.Mul(emc, big.NewInt(params.EMC))}
			}
			if devAccounts && reserve == "" {
				genesis.FundDevTable(gen)
			}
			if devAccounts {
				genesis.FundDevAccounts(gen)
			}
			if reserve != "" {
				if !common.IsHexAddress(reserve) {
					return fmt.Errorf("--reserve %q is not an address", reserve)
				}
				r := common.HexToAddress(reserve)
				gen.Reserve = &r
			}
			if err := gen.Validate(); err != nil {
				return err
			}
			if _, err := genesisTable(gen); err != nil {
				return err
			}
			data, err := gen.JSON()
			if err != nil {
				return err
			}
			data = append(data, '\n')
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			return nil
		},
	}
	f := create.Flags()
	f.Uint64Var(&chainID, "chain-id", 4242, "EIP-155 chain id")
	f.StringSliceVar(&validators, "validator", nil, "validator address (repeatable; required)")
	f.StringSliceVar(&allocs, "alloc", nil, "ADDRESS=EMC initial balance (repeatable)")
	f.DurationVar(&period, "block-period", time.Second, "target block period (sub-second allowed, min 50ms)")
	f.Uint64Var(&epoch, "epoch", genesis.DefaultEpochLength, "epoch length in blocks")
	f.Uint64Var(&gasLimit, "gas-limit", genesis.DefaultGasLimit, "block gas limit")
	f.BoolVar(&devAccounts, "dev-accounts", false, "fund the ten test-mnemonic accounts with 10,000 EMC each (insecure: public keys)")
	f.StringVar(&reserve, "reserve", "", "account that receives the rest of the supply table")
	f.StringVar(&out, "out", "", "output file (default stdout)")

	inspect := &cobra.Command{
		Use:   "inspect [FILE]",
		Short: "Validate a genesis file (default DATADIR/genesis.json, or the dev genesis with --dev) and print its hash",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var gen *genesis.Genesis
			var err error
			switch {
			case len(args) == 1:
				gen, err = genesis.FromFile(args[0])
			case g.dev:
				gen = genesis.Dev()
			default:
				gen, err = genesis.FromFile(g.resolvedDataDir().GenesisFile())
			}
			if err != nil {
				return err
			}
			tab, err := genesisTable(gen)
			if err != nil {
				return err
			}
			b := tab.block
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "chain id:      %d\n", gen.ChainID)
			fmt.Fprintf(w, "genesis hash:  %s\n", b.Hash().Hex())
			fmt.Fprintf(w, "state root:    %s\n", b.Root().Hex())
			fmt.Fprintf(w, "timestamp:     %d (%s)\n", gen.Timestamp, time.Unix(int64(gen.Timestamp), 0).UTC().Format(time.RFC3339))
			fmt.Fprintf(w, "gas limit:     %d\n", gen.GasLimit)
			fmt.Fprintf(w, "base fee:      %s wei (min %s)\n", gen.BaseFeeWei(), gen.MinBaseFeeWei())
			fmt.Fprintf(w, "block period:  %dms\n", gen.BlockPeriodMs)
			fmt.Fprintf(w, "epoch length:  %d blocks\n", gen.EpochLength)
			var forks []string
			for _, f := range params.Forks {
				if b, ok := gen.ForkBlock(f.Name); ok {
					forks = append(forks, fmt.Sprintf("%s at block %d", f.Name, b))
				}
			}
			if len(forks) == 0 {
				forks = []string{"none"}
			}
			fmt.Fprintf(w, "forks:         %s\n", strings.Join(forks, ", "))
			fmt.Fprintf(w, "total supply:  %s EMC\n", formatEMC(gen.TotalSupply()))
			fmt.Fprintf(w, "alloc:         %d accounts, %s EMC\n", len(gen.Alloc), formatEMC(tab.allocWei))
			fmt.Fprintf(w, "modules:       %s EMC\n", formatEMC(tab.modulesWei))
			if gen.Reserve != nil {
				fmt.Fprintf(w, "reserve:       %s, %s EMC\n", gen.Reserve.Hex(), formatEMC(tab.reserveWei))
			}
			fmt.Fprintf(w, "validators:    %d\n", len(gen.Validators))
			for _, v := range gen.Validators {
				fmt.Fprintf(w, "  %s\n", v.Hex())
			}
			return nil
		},
	}
	cmd.AddCommand(create, inspect)
	return cmd
}
