package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// TestGolden pins the output for a fixed input. A router's choices must
// replay exactly, so any change to the formula, the tie-break hash or the
// order of the checks shows up here; update the digest only on purpose.
func TestGolden(t *testing.T) {
	as, err := Schedule(benchJobs(64), benchNodes(500), [32]byte{0xe, 0xc}, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	placed := 0
	for _, a := range as {
		fmt.Fprintf(h, "%s %s %d %d\n", a.JobID, a.NodeID, a.Reason, a.Score)
		if a.Reason == Placed {
			placed++
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	const want = "9feadba5ee0f4b30249d26bc70886a67893007e2c09643e9bff0716fd25080ae"
	if got != want || placed != 51 {
		t.Fatalf("digest %s (%d of %d placed), want %s", got, placed, len(as), want)
	}
}
