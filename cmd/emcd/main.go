// Command emcd is the Edge Matrix Computing node: one binary that runs as a
// validator, a smart router or a compute node (--role), plus the operator
// tools around it (init, genesis, account, testnet, bench, status, gpus).
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(exitCode(err))
	}
}
