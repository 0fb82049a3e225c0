package main

// emcd job result: download a job's result record and output files
// through a router (computing/results/fetch), checking every hash here.

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/holiman/uint256"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results/fetch"
)

// Errors of `job result`, each a distinct reason to exit 1.
var (
	errNoResultYet  = errors.New("the job has no result yet")
	errNotSubmitter = errors.New("only the job's submitter may fetch its results")
)

func newJobResultCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var out string
	cmd := &cobra.Command{
		Use:   "result ID --out DIR",
		Short: "Download job ID's result record and output files through a router",
		Long: `result asks the router at --rpc for job ID's result: the router fetches it
from the compute node that ran the job over libp2p, and checks the record
against the record hash on chain and each file against the record. Every
request is signed with the submitter's key (the signing flags) and lasts
five minutes. result checks every hash again here, then writes each file
atomically: DIR/record.json and DIR/outputs/<path>, the record last.

It exits 1 with the reason when the job has no result yet, the key is not
the job's submitter, the node is unreachable, or a hash does not match.
--timeout bounds the whole download (default 10m).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out DIR is required")
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			j, err := getJob(sc.ctx, sc.nd, id, "latest")
			if err != nil {
				return err
			}
			if j == nil {
				return fmt.Errorf("no job %d", id)
			}
			if j.Submitter != sc.s.addr {
				return fmt.Errorf("%w: job %d was submitted by %s, the key is %s", errNotSubmitter, id, j.Submitter.Hex(), sc.s.addr.Hex())
			}
			if j.ResultHash == nil || !hasResultState(j.State) {
				return fmt.Errorf("%w: job %d is %s (wait for it with `emcd job wait %d`)", errNoResultYet, id, j.State, id)
			}
			sum, err := fetch.Download(sc.ctx, fetch.DownloadConfig{
				Client:  &fetch.Client{BaseURL: sc.nd.url, HTTP: &http.Client{}},
				Key:     sc.s.key,
				ChainID: uint256.MustFromBig(sc.nd.chainID), JobID: id, RecordSHA256: *j.ResultHash,
				Dir: out, Validity: 5 * time.Minute,
			})
			if err != nil {
				return resultError(err, id, sc.nd.url)
			}
			w := c.OutOrStdout()
			if rf.json {
				return writeJSON(w, sum)
			}
			var total int64
			for _, f := range sum.Files {
				total += f.Size
			}
			fmt.Fprintf(w, "job %d: %s (exit %d), record %s\n", id, sum.Status, sum.ExitCode, sum.RecordSHA256)
			fmt.Fprintf(w, "  %d file(s), %d bytes, every sha256 checked, in %s\n", len(sum.Files), total, out)
			for _, f := range sum.Files {
				fmt.Fprintf(w, "  %s  %d  %s\n", f.SHA256, f.Size, f.File)
			}
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	fl := cmd.Flags().Lookup("timeout")
	_ = fl.Value.Set("10m")
	fl.DefValue = "10m0s"
	cmd.Flags().StringVar(&out, "out", "", "directory to write record.json and outputs/ into (created if missing)")
	return cmd
}

// hasResultState: states that follow submitResult.
func hasResultState(state string) bool {
	s, err := jobs.ParseState(state)
	return err == nil && s.HasResult()
}

// resultError words a download failure for the user.
func resultError(err error, id uint64, url string) error {
	switch {
	case errors.Is(err, fetch.ErrMismatch):
		return fmt.Errorf("job %d: hash mismatch, nothing kept for the file: %w", id, err)
	case errors.Is(err, fetch.ErrUnreachable):
		return fmt.Errorf("job %d: the router at %s cannot reach the compute node that ran it: %w", id, url, err)
	case errors.Is(err, fetch.ErrNotSubmitter):
		return fmt.Errorf("%w: %w", errNotSubmitter, err)
	case errors.Is(err, fetch.ErrNotFinished):
		return fmt.Errorf("%w: %w", errNoResultYet, err)
	case errors.Is(err, fetch.ErrRefused), errors.Is(err, fetch.ErrRateLimited):
		return fmt.Errorf("job %d: %w", id, err)
	}
	return fmt.Errorf("job %d: %w (is %s a router? only routers relay results)", id, err, url)
}
