package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/params"
)

func versionString() string { return params.VersionWithCommit() }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this emcd binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "emcd %s\n", versionString())
			fmt.Fprintf(out, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
