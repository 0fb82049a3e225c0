package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
	"github.com/emc-network/emcd/params"
)

func init() { extraCommands = append(extraCommands, newOperatorCmd) }

// defaultOperatorAddr is where the CLI looks for the operator API when
// neither --grpc.addr, EMCD_GRPC_ADDR nor the data dir's config says.
const defaultOperatorAddr = params.DefaultGRPCAddr

// operatorMaxRecvBytes matches the server's default response cap.
const operatorMaxRecvBytes = 4 << 20

type operatorFlags struct {
	addr    string
	timeout time.Duration
	json    bool
}

func newOperatorCmd(_ *globals) *cobra.Command {
	of := &operatorFlags{}
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Query a running node over its gRPC operator API (JSON output)",
		Long: `operator queries a node's gRPC operator API and prints JSON.

The address comes from --grpc.addr, else EMCD_GRPC_ADDR, else the grpc.addr
of the node's config (--datadir or --config), else ` + defaultOperatorAddr + `.
So "emcd operator status --datadir testnet/node0" finds a testnet node.

64-bit numbers print as JSON strings (the protobuf JSON mapping).`,
	}
	// The flag shares the node's name so loadConfig fills it from the
	// node's config file and environment.
	cmd.PersistentFlags().StringVar(&of.addr, "grpc.addr", defaultOperatorAddr, "operator API address (host:port) of the node")
	cmd.PersistentFlags().DurationVar(&of.timeout, "timeout", 10*time.Second, "give up on a query after this long (not watch)")
	cmd.PersistentFlags().BoolVar(&of.json, "json", true, "print JSON (the operator commands' only format; accepted for scripts)")
	unary := func(use, short string, call func(context.Context, pb.OperatorClient) (proto.Message, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				return of.run(c.Context(), c.OutOrStdout(), func(ctx context.Context, conn grpc.ClientConnInterface) (proto.Message, error) {
					return call(ctx, pb.NewOperatorClient(conn))
				})
			},
		}
	}
	cmd.AddCommand(
		unary("info", "Print the node's identity: version, role, chain, validator address, peer ID",
			func(ctx context.Context, c pb.OperatorClient) (proto.Message, error) {
				return c.GetNodeInfo(ctx, &pb.GetNodeInfoRequest{})
			}),
		unary("status", "Print head, sync, consensus, peer count and txpool size",
			func(ctx context.Context, c pb.OperatorClient) (proto.Message, error) {
				return c.GetStatus(ctx, &pb.GetStatusRequest{})
			}),
		unary("peers", "Print the connected peers",
			func(ctx context.Context, c pb.OperatorClient) (proto.Message, error) {
				return c.ListPeers(ctx, &pb.ListPeersRequest{})
			}),
		unary("gpus", "Print the node's GPU inventory as its compute runtime sees it",
			func(ctx context.Context, c pb.OperatorClient) (proto.Message, error) {
				return c.GetGPUs(ctx, &pb.GetGPUsRequest{})
			}),
		newOperatorWatchCmd(of),
	)
	cmd.AddCommand(newOperatorChainCmds(of)...)
	return cmd
}

func newOperatorWatchCmd(of *operatorFlags) *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print each new head as one JSON line until interrupted",
		Long: `watch streams new chain heads, one JSON object per line, until Ctrl-C,
--count heads, or the node ends the stream. A node drops a watcher that
falls too far behind; watch then exits with an error.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			conn, err := of.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			stream, err := pb.NewOperatorClient(conn).WatchHeads(ctx, &pb.WatchHeadsRequest{}, grpc.WaitForReady(false))
			if err != nil {
				return fmt.Errorf("watch heads at %s: %w", of.addr, err)
			}
			out := c.OutOrStdout()
			enc := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
			for n := 0; count <= 0 || n < count; n++ {
				msg, err := stream.Recv()
				switch {
				case err == nil:
				case ctx.Err() != nil && status.Code(err) == codes.Canceled:
					return nil // interrupted
				case errors.Is(err, io.EOF):
					return nil
				default:
					return fmt.Errorf("watch heads at %s: %w", of.addr, err)
				}
				b, err := enc.Marshal(msg.GetHead())
				if err != nil {
					return err
				}
				// protojson varies its spacing on purpose; compact it so
				// the lines are stable for scripts.
				var line bytes.Buffer
				if err := json.Compact(&line, b); err != nil {
					return err
				}
				line.WriteByte('\n')
				if _, err := out.Write(line.Bytes()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many heads (0: until interrupted)")
	return cmd
}

// run makes one unary call and prints the response as indented JSON.
func (of *operatorFlags) run(ctx context.Context, out io.Writer, call func(context.Context, grpc.ClientConnInterface) (proto.Message, error)) error {
	conn, err := of.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, of.timeout)
	defer cancel()
	resp, err := call(ctx, conn)
	if err != nil {
		return fmt.Errorf("operator API at %s: %w", of.addr, err)
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(resp)
	if err != nil {
		return err
	}
	// protojson varies its spacing on purpose; indent it stably.
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = out.Write(buf.Bytes())
	return err
}

// dial returns a client connection; it connects on first use. The API is
// plaintext and meant for loopback, as the node serves it.
func (of *operatorFlags) dial() (*grpc.ClientConn, error) {
	if of.addr == "" {
		return nil, errors.New("no operator API address: pass --grpc.addr HOST:PORT")
	}
	conn, err := grpc.NewClient("passthrough:///"+of.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(operatorMaxRecvBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("operator API at %s: %w", of.addr, err)
	}
	return conn, nil
}
