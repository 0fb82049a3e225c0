package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newJobCmd) }

// jobPollInterval is how often `job wait` asks for the job.
const jobPollInterval = 500 * time.Millisecond

// errJobWait is returned when `job wait` times out before the job has a
// result or has ended.
var errJobWait = errors.New("job has no result yet")

// jobFinalReadTimeout bounds the read `job wait` makes after its timeout
// when no read had answered before it.
const jobFinalReadTimeout = 5 * time.Second

func jobsABI() (*abi.ABI, error) { return parseModuleABI(new(jobs.Module)) }

func newJobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Submit, follow, cancel and list compute jobs, over JSON-RPC",
		Long: `job talks to the jobs module (` + native.JobsAddress.Hex() + `).

A job escrows EMC or Credits; a router assigns it to a registered compute
node, which runs it and reports its usage; the chain pays the node and
refunds the rest. A job no router assigns expires and is refunded. See
computing/jobs and docs/economics.md.`,
	}
	cmd.AddCommand(newJobSubmitCmd(g), newJobStatusCmd(g), newJobWaitCmd(g), newJobCancelCmd(g), newJobListCmd(g), newJobResultCmd(g),
		newJobDisputeCmd(g))
	return cmd
}

// jobSpecFlags are submit's flags that build a spec.
type jobSpecFlags struct {
	image, specFile, gpuModel string
	gpus                      uint32
	minMemoryMiB, outputCap   uint64
	runTimeout                time.Duration
	env                       []string
	deterministic             bool
}

// build returns the spec the flags and ARGS name, checked. --spec FILE is a
// JSON object of jobs.Spec's fields (image, args, env, gpus, gpuModel,
// minMemoryMiB, timeoutSeconds, outputCapBytes; inputsSHA256 only as the
// --input files' bundle hashes) and excludes the other spec flags and ARGS.
func (f *jobSpecFlags) build(cmd *cobra.Command, args []string) (*jobs.Spec, error) {
	if (f.image == "") == (f.specFile == "") {
		return nil, errors.New("give exactly one of --image DIGEST and --spec FILE")
	}
	if f.specFile != "" {
		for _, n := range []string{"gpus", "gpu-model", "min-memory", "run-timeout", "output-cap", "env", "deterministic"} {
			if cmd.Flags().Changed(n) {
				return nil, fmt.Errorf("--%s: not with --spec (the file holds the whole spec)", n)
			}
		}
		if len(args) > 0 {
			return nil, errors.New("ARGS: not with --spec (the file holds the whole spec)")
		}
		data, err := os.ReadFile(f.specFile)
		if err != nil {
			return nil, fmt.Errorf("--spec: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var s jobs.Spec
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("--spec %s: %w", f.specFile, err)
		}
		if err := s.Check(); err != nil {
			return nil, fmt.Errorf("--spec %s: %w", f.specFile, err)
		}
		return &s, nil
	}
	img, err := parseDigest(f.image)
	if err != nil {
		return nil, err
	}
	if f.runTimeout <= 0 || f.runTimeout%time.Second != 0 {
		return nil, fmt.Errorf("--run-timeout %s: want a positive whole number of seconds", f.runTimeout)
	}
	s := &jobs.Spec{
		Image: img, Args: append([]string{}, args...), Env: append([]string{}, f.env...), GPUs: f.gpus,
		GPUModel: f.gpuModel, MinMemoryMiB: f.minMemoryMiB, TimeoutSeconds: uint64(f.runTimeout / time.Second),
		OutputCapBytes: f.outputCap, Deterministic: f.deterministic,
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseDigest accepts an image digest as sha256:HEX, 0xHEX or HEX (64 hex
// digits, not all zero).
func parseDigest(s string) (common.Hash, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "sha256:"), "0x")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("--image %q: want a sha256 digest (sha256:<64 hex digits>)", s)
	}
	d := common.BytesToHash(b)
	if d == (common.Hash{}) {
		return common.Hash{}, fmt.Errorf("--image %q: zero digest", s)
	}
	return d, nil
}

func newJobSubmitCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var sf jobSpecFlags
	var escrow, creditsN, maxPrice string
	var inputs []string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "submit (--image DIGEST | --spec FILE) (--escrow EMC | --credits N) [--max-price WEI] [--input F]... [spec flags] [-- ARGS...]",
		Short: "Submit a job with an EMC escrow (submitJob) or a Credits escrow (submitJobCredits)",
		Long: `submit builds the job's canonical spec, sends submitJob(spec, maxPrice)
with the EMC escrow, or submitJobCredits(spec, maxPrice, N) locking N of the
signer's Credits, and prints the new job's id and state (--json for
scripts). --max-price is the most wei per GPU-second the job pays (per
second for a CPU-only job, --gpus 0; default: the price at which a run of
the full timeout on all its GPUs uses the whole escrow, rounded down; a
Credits escrow is worth N × the chain's credit price). A Credits job's cost
is rounded up to whole Credits; the rest are returned. Bad flags exit
non-zero before anything is sent; a refused submission exits 1 with the
module's reason.

--input F (repeatable) gives the job the file F, named by its base name,
read-only as /job/in/NAME (Docker) or $EMC_INPUT_DIR/NAME (process
executor). The files travel in the transaction's calldata as one bundle of
at most ` + strconv.Itoa(jobs.MaxInputsBytes) + ` bytes (submitJobInputs or
submitJobCreditsInputs; the spec carries its sha256), paid as calldata gas.`,
		RunE: func(c *cobra.Command, args []string) error {
			spec, err := sf.build(c, args)
			if err != nil {
				return err
			}
			bundle, err := buildInputs(inputs)
			if err != nil {
				return err
			}
			if err := setInputsHash(spec, bundle); err != nil {
				return err
			}
			raw, err := spec.Encode()
			if err != nil {
				return err
			}
			if (escrow == "") == (creditsN == "") {
				return errors.New("give exactly one of --escrow EMC and --credits N")
			}
			var escrowWei, nCredits *big.Int
			if escrow != "" {
				if escrowWei, err = parseEMC(escrow); err != nil {
					return fmt.Errorf("--escrow: %w", err)
				}
				if escrowWei.Sign() == 0 {
					return errors.New("--escrow: must be more than zero")
				}
			} else {
				n, ok := new(big.Int).SetString(creditsN, 10)
				if !ok || n.Sign() <= 0 || n.BitLen() > 256 {
					return fmt.Errorf("--credits %q: want a positive whole number of Credits", creditsN)
				}
				nCredits = n
			}
			a, err := jobsABI()
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			worthWei := escrowWei
			if nCredits != nil {
				ca, err := creditsABI()
				if err != nil {
					return err
				}
				cp, err := creditPrice(sc.ctx, sc.nd, ca)
				if err != nil {
					return err
				}
				worthWei = new(big.Int).Mul(nCredits, cp)
			}
			var price *big.Int
			if maxPrice != "" {
				p, ok := new(big.Int).SetString(maxPrice, 10)
				if !ok || p.Sign() <= 0 || p.BitLen() > 256 {
					return fmt.Errorf("--max-price %q: want a positive whole number of wei per GPU-second", maxPrice)
				}
				price = p
			} else {
				gpuSeconds := new(big.Int).Mul(new(big.Int).SetUint64(spec.TimeoutSeconds), big.NewInt(int64(max(spec.GPUs, 1))))
				price = new(big.Int).Quo(worthWei, gpuSeconds) // rounded down: the run never costs more than the escrow
				if price.Sign() == 0 {
					return fmt.Errorf("the escrow (%s EMC) does not pay 1 wei per GPU-second for %s GPU-seconds: raise it or set --max-price", formatEMC(worthWei), gpuSeconds)
				}
			}
			method, callArgs, value := "submitJob", []any{raw, price}, escrowWei
			if nCredits != nil {
				method, callArgs, value = "submitJobCredits", []any{raw, price, nCredits}, nil
			}
			if bundle != nil {
				method, callArgs = method+"Inputs", append(callArgs, bundle)
			}
			data, err := a.Pack(method, callArgs...)
			if err != nil {
				return err
			}
			out, err := sendTx(sc.ctx, sc.nd, sc.s, txRequest{To: native.JobsAddress, Value: value, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			summary := ""
			if out.Status == "success" {
				id, err := submittedID(sc.ctx, sc.nd, a, *out.TxHash)
				if err != nil {
					return err
				}
				res := map[string]any{"id": id, "maxPriceWeiPerGpuSecond": price.String()}
				if nCredits != nil {
					res["escrowKind"], res["escrowCredits"] = "credits", nCredits.String()
					summary = fmt.Sprintf("submitted job %d with %s Credits escrow, max %s wei per GPU-second", id, nCredits, price)
				} else {
					res["escrowKind"], res["escrowWei"] = "emc", escrowWei.String()
					summary = fmt.Sprintf("submitted job %d with %s EMC escrow, max %s wei per GPU-second", id, formatEMC(escrowWei), price)
				}
				if j, err := getJob(sc.ctx, sc.nd, id, hexutil.EncodeUint64(*out.Block)); err == nil && j != nil {
					res["state"] = j.State
					summary += "; " + j.State
				}
				out.Result = res
			}
			return report(c.OutOrStdout(), rf.json, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&sf.image, "image", "", "container image digest (sha256:<64 hex digits>)")
	fs.StringVar(&sf.specFile, "spec", "", "JSON file holding the whole spec (instead of --image, the spec flags and ARGS)")
	fs.Uint32Var(&sf.gpus, "gpus", 1, "GPUs the job needs (0: a CPU-only job, priced per second by a node's CPU price)")
	fs.StringVar(&sf.gpuModel, "gpu-model", "", "GPU model the node must have, as the registry lists it (default: any)")
	fs.Uint64Var(&sf.minMemoryMiB, "min-memory", 0, "least memory per GPU in MiB (0: any)")
	fs.DurationVar(&sf.runTimeout, "run-timeout", time.Hour, "longest the job may run (whole seconds); --timeout is the RPC wait")
	fs.Uint64Var(&sf.outputCap, "output-cap", 0, "bound on the job's outputs in bytes")
	fs.StringArrayVar(&sf.env, "env", nil, "environment entry KEY=VALUE (repeatable)")
	fs.BoolVar(&sf.deterministic, "deterministic", false, "declare the job deterministic (two honest runs give the same outputs): its result may be re-executed by other nodes and disputed (`job dispute`); escrow in EMC, about twice the expected cost")
	fs.StringVar(&escrow, "escrow", "", "EMC escrowed for the job (decimal, more than zero)")
	fs.StringVar(&creditsN, "credits", "", "Credits of the signer escrowed for the job instead of EMC (whole, more than zero)")
	fs.StringVar(&maxPrice, "max-price", "", "most wei per GPU-second the job pays")
	fs.StringArrayVar(&inputs, "input", nil, "file given to the job as /job/in/BASENAME (repeatable; all together at most "+strconv.Itoa(jobs.MaxInputsBytes)+" bytes encoded)")
	gasFlag(cmd, &gas)
	cmd.MarkFlagsMutuallyExclusive("escrow", "credits")
	return cmd
}

// buildInputs reads the --input files into an encoded bundle (nil for
// none): each file is named by its base name; names must be plain and
// unique, and the bundle within jobs.MaxInputsBytes.
func buildInputs(paths []string) ([]byte, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	if len(paths) > jobs.MaxInputFiles {
		return nil, fmt.Errorf("--input: %d files (at most %d)", len(paths), jobs.MaxInputFiles)
	}
	var in jobs.Inputs
	from := make(map[string]string, len(paths))
	total := int64(0)
	for _, p := range paths {
		name := filepath.Base(p)
		if err := jobs.CheckInputName(name); err != nil {
			return nil, fmt.Errorf("--input %s: %w", p, err)
		}
		if prev, ok := from[name]; ok {
			return nil, fmt.Errorf("--input %s: the name %q is already given by %s", p, name, prev)
		}
		from[name] = p
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("--input %s: not a regular file", p)
		}
		if total += fi.Size(); total > jobs.MaxInputsBytes {
			return nil, fmt.Errorf("--input: the files hold over %d bytes, more than a job's inputs may (%d bytes encoded)", total, jobs.MaxInputsBytes)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		in = append(in, jobs.InputFile{Name: name, Data: data})
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Name < in[j].Name })
	data, err := in.Encode()
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	return data, nil
}

// setInputsHash names bundle (nil: none) in spec. A --spec file may name
// an inputs hash only if it is the bundle's.
func setInputsHash(spec *jobs.Spec, bundle []byte) error {
	if bundle == nil {
		if spec.InputsSHA256 != (common.Hash{}) {
			return errors.New("the spec names inputs (inputsSHA256) but no --input is given")
		}
		return nil
	}
	h := jobs.InputsHash(bundle)
	if spec.InputsSHA256 != (common.Hash{}) && spec.InputsSHA256 != h {
		return fmt.Errorf("the spec's inputsSHA256 %s is not the --input files' %s", spec.InputsSHA256.Hex(), h.Hex())
	}
	spec.InputsSHA256 = h
	return nil
}

// submittedID reads the job id from the JobSubmitted log of the receipt.
func submittedID(ctx context.Context, nd *rpcNode, a *abi.ABI, tx common.Hash) (uint64, error) {
	rcpt, err := nd.eth.TransactionReceipt(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("receipt of %s: %w", tx.Hex(), err)
	}
	ev := a.Events["JobSubmitted"].ID
	for _, l := range rcpt.Logs {
		if l.Address == native.JobsAddress && len(l.Topics) == 3 && l.Topics[0] == ev {
			id := l.Topics[1].Big()
			if !id.IsUint64() {
				return 0, fmt.Errorf("JobSubmitted id %s out of range", id)
			}
			return id.Uint64(), nil
		}
	}
	return 0, fmt.Errorf("transaction %s succeeded without a JobSubmitted log", tx.Hex())
}

// parseJobID parses a job id (decimal or 0x-hex, at least 1).
func parseJobID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 0, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("job id %q: want a number from 1", s)
	}
	return id, nil
}

// getJob calls emc_getJob; nil when there is no such job.
func getJob(ctx context.Context, nd *rpcNode, id uint64, block string) (*jsonrpc.Job, error) {
	bnh, err := parseBlockArg(block)
	if err != nil {
		return nil, err
	}
	var j *jsonrpc.Job
	if err := nd.rpc.CallContext(ctx, &j, "emc_getJob", hexutil.Uint64(id), bnh); err != nil {
		return nil, fmt.Errorf("emc_getJob: %w", err)
	}
	return j, nil
}

// printJob prints j as JSON (emc_getJob's record) or a short text summary.
func printJob(c *cobra.Command, asJSON bool, j *jsonrpc.Job) error {
	w := c.OutOrStdout()
	if asJSON {
		return writeJSON(w, j)
	}
	esc := formatEMC(j.Escrow.ToInt()) + " EMC"
	if j.EscrowKind == "credits" {
		esc = j.EscrowCredits.ToInt().String() + " Credits"
	}
	fmt.Fprintf(w, "job %d: %s, submitter %s, escrow %s, %d GPU(s), submitted in block %d\n",
		uint64(j.ID), j.State, j.Submitter.Hex(), esc, uint64(j.GPUs), uint64(j.SubmitBlock))
	if j.Node != nil {
		fmt.Fprintf(w, "  node %s at %s wei per GPU-second, attempt %d\n", j.Node.Hex(), j.Price.ToInt(), uint64(j.Attempts))
	}
	if j.ResultHash != nil {
		fmt.Fprintf(w, "  result %s: exit %d, %d GPU-ms\n", j.ResultHash.Hex(), j.Exit, uint64(j.GPUMillis))
	}
	if uint64(j.EndBlock) != 0 {
		fmt.Fprintf(w, "  ended in block %d: cost %s wei, burned %s wei, refunded %s wei\n",
			uint64(j.EndBlock), j.Cost.ToInt(), j.Burned.ToInt(), j.Refund.ToInt())
		if j.EscrowKind == "credits" {
			fmt.Fprintf(w, "  Credits: %s spent, %s returned\n", j.CostCredits.ToInt(), j.RefundCredits.ToInt())
		}
	}
	return nil
}

// jobDone reports whether `job wait` stops at state: a result came or the
// job ended.
func jobDone(state string) bool {
	s, err := jobs.ParseState(state)
	return err == nil && (s.HasResult() || s.Ended())
}

func newJobStatusCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var block string
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Print job ID (emc_getJob)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			j, err := getJob(ctx, nd, id, block)
			if err != nil {
				return err
			}
			if j == nil {
				return fmt.Errorf("no job %d at block %s", id, block)
			}
			return printJob(c, rf.json, j)
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}

func newJobWaitCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	cmd := &cobra.Command{
		Use:   "wait ID [--timeout D]",
		Short: "Wait until job ID has a result or has ended, then print it",
		Long: `wait polls emc_getJob until the job is completed, failed, settled,
expired or cancelled, and prints the record (--json: emc_getJob's). It
returns at once for a job already there, and exits 1 when --timeout passes
first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			tick := time.NewTicker(jobPollInterval)
			defer tick.Stop()
			state := "" // the last state read
			for {
				j, err := getJob(ctx, nd, id, "latest")
				if err != nil && ctx.Err() == nil {
					return err
				}
				if err == nil && j == nil {
					return fmt.Errorf("no job %d", id)
				}
				if err == nil {
					if jobDone(j.State) {
						return printJob(c, rf.json, j)
					}
					state = j.State
				}
				select {
				case <-ctx.Done():
					if state == "" {
						// The timeout passed before any read answered (a
						// slow node, a short --timeout): read once more, on
						// its own short deadline, so the message names the
						// job's state.
						rctx, cancel := context.WithTimeout(context.Background(), jobFinalReadTimeout)
						j, err := getJob(rctx, nd, id, "latest")
						cancel()
						switch {
						case err == nil && j == nil:
							return fmt.Errorf("no job %d", id)
						case err == nil && jobDone(j.State):
							return printJob(c, rf.json, j)
						case err == nil:
							state = j.State
						default:
							state = "unknown"
						}
					}
					return &exitError{code: 1, err: fmt.Errorf("job %d still %s after %s: %w", id, state, rf.timeout, errJobWait)}
				case <-tick.C:
				}
			}
		},
	}
	rf.register(cmd)
	return cmd
}

func newJobCancelCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel job ID before it is assigned; its escrow is refunded",
		Long: `cancel sends cancel(id) from the submitter. Only a submitted (not yet
assigned) job can be cancelled; a refused cancel exits 1 with the reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			a, err := jobsABI()
			if err != nil {
				return err
			}
			data, err := a.Pack("cancel", new(big.Int).SetUint64(id))
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			out, err := sendTx(sc.ctx, sc.nd, sc.s, txRequest{To: native.JobsAddress, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			summary := ""
			if out.Status == "success" {
				res := map[string]any{"id": id}
				summary = fmt.Sprintf("cancelled job %d", id)
				if j, err := getJob(sc.ctx, sc.nd, id, hexutil.EncodeUint64(*out.Block)); err == nil && j != nil {
					res["state"], res["refundWei"] = j.State, j.Refund.ToInt().String()
					summary += fmt.Sprintf(", refunded %s EMC", formatEMC(j.Refund.ToInt()))
				}
				out.Result = res
			}
			return report(c.OutOrStdout(), rf.json, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

func newJobListCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var owner, state, block string
	var offset, limit uint64
	cmd := &cobra.Command{
		Use:   "list [--owner ADDR] [--state S] [--offset N] [--limit N]",
		Short: "List jobs (emc_jobs): one owner's (--owner, or the key flags' account) or every job",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f := jsonrpc.JobsFilter{State: nil, Offset: hexutil.Uint64(offset), Limit: hexutil.Uint64(limit)}
			switch {
			case owner != "":
				if !common.IsHexAddress(owner) {
					return fmt.Errorf("--owner %q is not an address", owner)
				}
				a := common.HexToAddress(owner)
				f.Owner = &a
			case (keySource{f: &kf, dataDir: g.dataDir}).given():
				a, err := keySource{f: &kf, dataDir: g.dataDir}.address()
				if err != nil {
					return err
				}
				f.Owner = &a
			}
			if state != "" {
				f.State = &state
			}
			bnh, err := parseBlockArg(block)
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			var out jsonrpc.Jobs
			if err := nd.rpc.CallContext(ctx, &out, "emc_jobs", f, bnh); err != nil {
				return fmt.Errorf("emc_jobs: %w", err)
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), out)
			}
			w := c.OutOrStdout()
			for _, j := range out.Jobs {
				fmt.Fprintf(w, "%d\t%s\t%s EMC\t%s\n", uint64(j.ID), j.State, formatEMC(j.Escrow.ToInt()), j.Submitter.Hex())
			}
			fmt.Fprintf(w, "%d shown, next offset %d of %d (block %d)\n", len(out.Jobs), uint64(out.NextOffset), uint64(out.Total), uint64(out.BlockNumber))
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&owner, "owner", "", "submitter whose jobs to list (default: the key flags' account, else every job)")
	fs.StringVar(&state, "state", "", "only jobs in this state (submitted, assigned, running, completed, failed, expired, cancelled, settled)")
	fs.Uint64Var(&offset, "offset", 0, "skip this many of the listed jobs")
	fs.Uint64Var(&limit, "limit", 0, fmt.Sprintf("read at most this many (default and most: %d)", jsonrpc.MaxJobsPage))
	fs.StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}
