package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/config"
)

// exitError carries a process exit code out of a command (compute exec exits
// with the job's code, like docker run).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// globals are the settings every subcommand shares.
type globals struct {
	dataDir   string
	cfgFile   string
	logLevel  string
	logFormat string
	dev       bool
	storage   storageFlags
}

func (g *globals) resolvedDataDir() *config.DataDir {
	if g.dataDir != "" {
		return config.NewDataDir(g.dataDir)
	}
	return config.NewDataDir(config.DefaultDataDir(g.dev))
}

func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(g.logFormat) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log.format %q: want text or json", g.logFormat)
	}
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	nf := &nodeFlags{}
	root := &cobra.Command{
		Use:   "emcd",
		Short: "Edge Matrix Computing node: validator, smart router or GPU compute node",
		Long: `emcd runs one node of the Edge Matrix Computing network.

Without a subcommand it runs the node in the role given by --role. The chain
is EVM-compatible: point ethers.js, web3 or MetaMask at the JSON-RPC address.

Settings come from flags, EMCD_* environment variables (--rpc.addr is
EMCD_RPC_ADDR), the TOML file given by --config or DATADIR/config.toml, and
built-in defaults, in that order of precedence.

Quick start: emcd --dev   (a single-node dev chain with funded accounts)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return loadConfig(cmd, g)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNode(cmd, g, nf)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "datadir", "", "data directory (default $HOME/.emcd, or $HOME/.emcd/dev with --dev)")
	pf.StringVar(&g.cfgFile, "config", "", "TOML config file (default DATADIR/config.toml if it exists)")
	pf.StringVar(&g.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log.format", "text", "log format: text or json")
	pf.BoolVar(&g.dev, "dev", false, "dev mode: single node with all roles, fixed dev genesis and signer, funded unlocked accounts")
	g.storage.register(pf)
	nf.register(root)

	root.AddCommand(newVersionCmd(), newAccountCmd(g))
	for _, add := range extraCommands {
		root.AddCommand(add(g))
	}
	return root
}

// extraCommands lets subcommands living in their own files register
// themselves without editing newRootCmd.
var extraCommands []func(*globals) *cobra.Command

// loadConfig layers env and config file values under the flags the user gave.
func loadConfig(cmd *cobra.Command, g *globals) error {
	root := cmd.Root()
	fs := cmd.Flags()
	// --datadir, --config and --dev decide where the file is, so they come
	// from flags or env only.
	if err := config.Apply(fs, nil, os.Getenv); err != nil {
		return err
	}
	var file map[string]string
	switch {
	case g.cfgFile != "":
		m, err := config.LoadFile(g.cfgFile)
		if err != nil {
			return err
		}
		file = m
	default:
		path := g.resolvedDataDir().ConfigFile()
		if _, err := os.Stat(path); err == nil {
			m, err := config.LoadFile(path)
			if err != nil {
				return err
			}
			file = m
		}
	}
	if file == nil {
		return nil
	}
	all := root.Flags()
	all.AddFlagSet(root.PersistentFlags())
	if err := config.CheckKeys(all, file); err != nil {
		return err
	}
	return config.Apply(fs, file, func(string) string { return "" }, "config", "datadir")
}
