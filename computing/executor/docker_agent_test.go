package executor

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The calls the compute agent makes: is an image held (by its ID, the
// on-chain digest), load a docker save tarball and learn its image IDs,
// remove what a stopped node left of a run.
func TestDockerAgentCalls(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	d, err := NewDocker(DockerConfig{Client: dockerCli})
	if err != nil {
		t.Fatal(err)
	}
	insp, err := dockerCli.ImageInspect(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	id := insp.ID
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("image ID %q", id)
	}
	for ref, want := range map[string]bool{testImage: true, id: true, "sha256:" + strings.Repeat("0", 64): false} {
		if got, err := d.HasImage(ctx, ref); err != nil || got != want {
			t.Fatalf("HasImage(%s) = %v, %v; want %v", ref, got, err, want)
		}
	}

	saved, err := dockerCli.ImageSave(ctx, []string{testImage})
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := io.ReadAll(saved)
	saved.Close()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := d.LoadImages(ctx, bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, id) {
		t.Fatalf("loaded %v, want %s among them", ids, id)
	}
	if _, err := d.LoadImages(ctx, strings.NewReader("not a tarball")); err == nil {
		t.Fatal("a bad tarball loaded")
	}

	const runID = "emc-agent-test-leftover"
	c, err := dockerCli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{
		Image: testImage, Labels: map[string]string{jobLabel: runID},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.RemoveJob(ctx, runID); err != nil || n != 1 {
		t.Fatalf("RemoveJob removed %d (%v), want 1", n, err)
	}
	if _, err := dockerCli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err == nil {
		t.Fatal("leftover container still there")
	}
	if n, err := d.RemoveJob(ctx, runID); err != nil || n != 0 {
		t.Fatalf("second RemoveJob removed %d (%v), want 0", n, err)
	}
}
