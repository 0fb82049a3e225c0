package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// runNode starts the node in its role and blocks until SIGINT/SIGTERM.
func runNode(cmd *cobra.Command, g *globals, nf *nodeFlags) error {
	log, err := g.logger(os.Stderr)
	if err != nil {
		return err
	}
	dd := g.resolvedDataDir()
	if err := dd.Lock(); err != nil {
		return err
	}
	defer dd.Unlock()
	log.Info("emcd starting", "role", nf.role, "datadir", dd.Path, "dev", g.dev)
	return fmt.Errorf("run %s: %w", nf.role, errors.New("the node runtime is not in this build yet"))
}
