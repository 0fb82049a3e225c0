// Package scratchimage builds the smallest image that runs one static
// binary: FROM scratch, the binary copied in as /<name>, its entrypoint.
// Tests use it for their payloads (CI has a Docker engine but no
// registry to pull from), through the Docker Engine API and the classic
// builder (no BuildKit needed).
package scratchimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

// Build builds image tag from FROM scratch plus bin as /name (mode 0755,
// the entrypoint). name must be a plain file name.
func Build(ctx context.Context, cli *client.Client, tag, name string, bin []byte) error {
	if name == "" || path.Base(name) != name || name == "Dockerfile" {
		return fmt.Errorf("scratchimage: bad binary name %q", name)
	}
	var buildCtx bytes.Buffer
	tw := tar.NewWriter(&buildCtx)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, fmt.Appendf(nil, "FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\n", name, name, name)},
		{name, 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return fmt.Errorf("scratchimage: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("scratchimage: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("scratchimage: %w", err)
	}
	res, err := cli.ImageBuild(ctx, &buildCtx, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		return fmt.Errorf("scratchimage: build %s: %w", tag, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("scratchimage: build %s: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("scratchimage: build %s: %s", tag, msg.Error)
		}
	}
}
