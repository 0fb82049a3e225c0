package telemetry

import (
	"context"
	"fmt"

	"github.com/emc-network/emcd/computing/gpu"
)

// Report is what `emcd gpus --json` prints: the inventory and one
// telemetry sample. Its shape is pinned by testdata/report.golden.json since
// it becomes the node's registration payload.
type Report struct {
	Inventory *gpu.Inventory `json:"inventory"`
	Telemetry Snapshot       `json:"telemetry"`
}

// NewReport reads p's inventory and takes one sample with s.
func NewReport(ctx context.Context, p gpu.Provider, s *Sampler) (*Report, error) {
	inv, err := p.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: inventory: %w", err)
	}
	snap, err := s.Sample(ctx)
	if err != nil {
		return nil, err
	}
	return &Report{Inventory: inv, Telemetry: snap}, nil
}
