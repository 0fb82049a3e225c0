package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/sim"
)

func init() { extraCommands = append(extraCommands, newSimCmd) }

// newSimCmd is `emcd sim`, with `emcd sim market`.
func newSimCmd(*globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulators that run the real chain modules in memory",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSimMarketCmd())
	return cmd
}

// parseFraction reads "0.2" or "20%" as a fraction in [0, 1].
func parseFraction(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(t, "%") {
		t, scale = strings.TrimSuffix(t, "%"), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("--cheaters %q: want a fraction (0.2) or a percentage (20%%)", s)
	}
	v /= scale
	if !(v >= 0 && v <= 1) {
		return 0, fmt.Errorf("--cheaters %q: want a fraction in [0, 1] or 0%%…100%%", s)
	}
	return v, nil
}

func newSimMarketCmd() *cobra.Command {
	cfg := sim.DefaultConfig()
	var cheaters string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "market",
		Short: "Simulate the compute market (challenges and jobs) on the real modules: are cheaters caught and slashed, is anyone honest",
		Long: `market runs the real registry, staking, jobs, verify and rewards modules on an
in-memory chain (16-block epochs, 2 s blocks), block by block, with scripted
actors signing real transactions: --validators validators acting as verifiers
(--colluders of them pass their partner cheaters and fail honest nodes,
--down-validators of them are offline), and --nodes compute nodes of which
--cheaters cheat (kinds in turn: fake GPU class, wrong results, no-show,
colluding with the colluders and in pairs that back each other's wrong
job results). Every node is challenged in epochs 1…--epochs, and --jobs
deterministic jobs an epoch go through a staked router to the nodes; the
jobs module samples results for re-execution, submitters dispute wrong
ones, and nodes in the minority are slashed and jailed. It prints the
cheaters, those caught (a failed or missed challenge, or a slash) per epoch,
honest nodes slashed (by the jobs module), credits, node rewards and job
payments to cheaters, and checks the supply to the wei. Same flags, same
output.`,
		Example: `  emcd sim market --nodes 100 --cheaters 20% --epochs 3 --seed 7
  emcd sim market --nodes 20 --cheaters 0.2 --delay-blocks 2 --down-validators 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, err := parseFraction(cheaters)
			if err != nil {
				return err
			}
			cfg.CheaterFraction = f
			if err := cfg.Check(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			r, err := sim.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), r)
			}
			printSimReport(c.OutOrStdout(), r)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "compute nodes (1…500)")
	fl.StringVar(&cheaters, "cheaters", "20%", "share of the nodes that cheat: a fraction (0.2) or a percentage (20%)")
	fl.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "challenged epochs (1…100)")
	fl.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the run (keys, cheaters, wrong chunks)")
	fl.IntVar(&cfg.Validators, "validators", cfg.Validators, "validators (1…32)")
	fl.IntVar(&cfg.Colluders, "colluders", cfg.Colluders, "colluding validators, fewer than a third")
	fl.IntVar(&cfg.DownValidators, "down-validators", 0, "validators that neither attest nor seal (at most (validators-1)/3)")
	fl.IntVar(&cfg.DelayBlocks, "delay-blocks", 0, "blocks every off-chain message is delayed (0…10)")
	fl.Float64Var(&cfg.WrongFraction, "wrong-fraction", cfg.WrongFraction, "share of chunks a wrong-result node gets wrong, in (0, 1]")
	fl.IntVar(&cfg.Workers, "workers", cfg.Workers, "goroutines of each proof-of-work computation")
	fl.IntVar(&cfg.JobsPerEpoch, "jobs", cfg.JobsPerEpoch, "deterministic jobs submitted each epoch (0…1000)")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printSimReport(w io.Writer, r *sim.Report) {
	fmt.Fprintf(w, "seed %d: %d nodes, %d validators, %d blocks in %d ms\n", r.Seed, r.Nodes, r.Validators, r.Blocks, r.ElapsedMilliseconds)
	kinds := make([]string, 0, len(r.CheatersByKind))
	for k, n := range r.CheatersByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "cheaters:        %d (%s)\n", r.Cheaters, strings.Join(kinds, ", "))
	fmt.Fprintf(w, "caught:          %d, by epoch %v\n", r.Caught, r.CaughtByEpoch)
	if len(r.Uncaught) > 0 {
		fmt.Fprintf(w, "uncaught:        %s\n", strings.Join(r.Uncaught, " "))
	}
	fmt.Fprintf(w, "honest slashed:  %d (by the jobs module); %d with a failed or missed challenge\n", r.HonestSlashed, len(r.HonestPunished))
	fmt.Fprintf(w, "slashed:         %d cheaters (jailed %d), %s wei of their compute stake\n", r.CheatersSlashed, r.CheatersJailed, r.CheaterSlashedWei)
	fmt.Fprintf(w, "jobs:            %d submitted, by state %v, by re-execution %v, %d disputes\n", r.JobsSubmitted, r.JobsByState, r.JobsByVerify, r.Disputes)
	fmt.Fprintf(w, "job payments:    cheaters %s wei, honest %s wei; supply exact %v\n", r.CheaterJobWei, r.HonestJobWei, r.SupplyExact)
	fmt.Fprintf(w, "cheater credits: %d, node rewards %s wei\n", r.CheaterCredits, r.CheaterRewardsWei)
	fmt.Fprintf(w, "honest credits:  %d, node rewards %s wei\n", r.HonestCredits, r.HonestRewardsWei)
	fmt.Fprintf(w, "validators:      %d false fails by colluders, %d by honest ones, %d missed duties\n", r.ColluderFalseFails, r.HonestFalseFails, r.MissedDuties)
	labels := make([]string, 0, len(r.Refused))
	for l := range r.Refused {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		fmt.Fprintf(w, "refused:         %s ×%d\n", l, r.Refused[l])
	}
	fmt.Fprintln(w, "epoch  verified  failed  missed  caught(new)  slashed(new)  honest punished  cheater credits")
	for _, e := range r.Epochs {
		fmt.Fprintf(w, "%5d  %8d  %6d  %6d  %6d(%d)  %12d  %15d  %15d\n", e.Epoch, e.Verified, e.Failed, e.Missed, e.Caught, e.CaughtNew, e.SlashedNew, e.HonestPunished, e.CheaterCredits)
	}
}
