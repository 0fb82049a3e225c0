package main

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/state/native"
)

func newJobDisputeCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	var bond string
	cmd := &cobra.Command{
		Use:   "dispute ID --bond EMC",
		Short: "Dispute the result of deterministic job ID with a bond: other nodes re-execute it",
		Long: `dispute sends dispute(id) from the submitter with --bond EMC (at least the
module's disputeBondWei, 1 EMC by default). Only a deterministic job
(submitted with --deterministic) with a result, before it settles and not yet
re-executed (or left at a tie by a sampled re-execution), can be disputed.
The chain draws other nodes to re-run the job and compare output digests: if
they contradict the provider, it is slashed and jailed and the escrow and the
bond come back; if they agree, the bond pays the re-executors and the
provider. A refused dispute exits 1 with the reason. Follow it with
` + "`job status ID`" + ` (states disputed, then completed, failed or refunded).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			if bond == "" {
				return errors.New("--bond EMC is required (the dispute's bond, at least the module's minimum)")
			}
			value, err := parseEMC(bond)
			if err != nil {
				return fmt.Errorf("--bond %w", err)
			}
			if value.Sign() == 0 {
				return errors.New("--bond: want more than zero")
			}
			a, err := jobsABI()
			if err != nil {
				return err
			}
			data, err := a.Pack("dispute", new(big.Int).SetUint64(id))
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			out, err := sendTx(sc.ctx, sc.nd, sc.s, txRequest{To: native.JobsAddress, Value: value, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			summary := ""
			if out.Status == "success" {
				out.Result = map[string]any{"id": id, "bondWei": value.String()}
				summary = fmt.Sprintf("disputed job %d with a bond of %s EMC; other nodes re-execute it", id, formatEMC(value))
			}
			return report(c.OutOrStdout(), rf.json, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&bond, "bond", "", "EMC bonded with the dispute (decimal; at least the module's disputeBondWei)")
	gasFlag(cmd, &gas)
	return cmd
}
