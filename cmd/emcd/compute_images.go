package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/executor"
)

// imagesLoadResult is what `compute images load --json` prints.
type imagesLoadResult struct {
	Executor string   `json:"executor"`
	Images   []string `json:"images"`
	Path     string   `json:"path,omitempty"`
}

func newComputeImagesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Load the images (or programs) this compute node runs jobs from",
	}
	cmd.AddCommand(newComputeImagesLoadCmd(g))
	return cmd
}

func newComputeImagesLoadCmd(g *globals) *cobra.Command {
	var (
		kind   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "load FILE [--executor docker|process] [--json]",
		Short: "Load a docker save tarball (Docker executor) or an executable (process executor) and print its digest",
		Long: `load makes an image available to the node's job agent and prints the digest
jobs name it by (the spec's image, and the node's --compute.image list).

--executor docker (the default) loads a ` + "`docker save`" + ` tarball through the Docker
Engine API and prints the ID (sha256:HEX) of each image it held: a job's
image digest is that ID. Nothing is pulled from a registry.

--executor process (development only) copies the executable FILE into
DATADIR/compute/programs/<sha256-hex>, named by its own sha256, and prints
sha256:HEX: a job whose image digest is that hash runs the program.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			res := imagesLoadResult{Executor: kind}
			switch kind {
			case agent.ExecutorProcess:
				p := agent.NewPrograms(filepath.Join(g.resolvedDataDir().Compute(), "programs"))
				d, err := p.Load(args[0])
				if err != nil {
					return err
				}
				res.Images = []string{"sha256:" + strings.TrimPrefix(d.Hex(), "0x")}
				res.Path = p.Path(d)
			case agent.ExecutorDocker:
				d, err := executor.NewDocker(executor.DockerConfig{})
				if err != nil {
					return err
				}
				defer d.Close()
				if err := d.Ping(c.Context()); err != nil {
					return err
				}
				if res.Images, err = loadDockerImages(c, d, args[0]); err != nil {
					return err
				}
				if len(res.Images) == 0 {
					return errors.New("the tarball held no image")
				}
			default:
				return fmt.Errorf("--executor %q: want docker or process", kind)
			}
			out := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			for _, img := range res.Images {
				fmt.Fprintf(out, "loaded %s", img)
				if res.Path != "" {
					fmt.Fprintf(out, " (%s)", res.Path)
				}
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "executor", agent.ExecutorDocker, "docker (a docker save tarball) or process (an executable; development only)")
	f.BoolVar(&asJSON, "json", false, "print {executor, images, path} as JSON")
	return cmd
}

func loadDockerImages(c *cobra.Command, d *executor.Docker, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return d.LoadImages(c.Context(), f)
}
