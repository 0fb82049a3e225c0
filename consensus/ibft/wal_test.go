package ibft

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/emc-network/emcd/consensus/wal"
)

// The driver's restart path end to end over a real file: records written
// (and fsynced) before a crash come back through wal.Open and DecodeRecord,
// and the restored core re-sends rather than re-signs.
func TestFileWALRestart(t *testing.T) {
	tn := newTestNet(t, 4)
	path := filepath.Join(t.TempDir(), "consensus.wal")
	w, recs, err := wal.Open(path)
	if err != nil || len(recs) != 0 {
		t.Fatal(err)
	}
	p := proposerIndex(4, 1, 0)
	c := tn.core(p, 1)
	drain(c)
	b := block(1, "b")
	if err := c.Propose(b); err != nil {
		t.Fatal(err)
	}
	rd := drain(c)
	for _, r := range rd.WAL {
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(enc); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// The crash tears the next append: half a frame reaches the disk.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(wal.AppendFrame(nil, []byte("a record never finished"))[:12])
	f.Close()

	_, raw, err := wal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var restored []Record
	for _, b := range raw {
		r, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		restored = append(restored, r)
	}
	if len(restored) != len(rd.WAL) {
		t.Fatalf("restored %d records, wrote %d", len(restored), len(rd.WAL))
	}
	re := tn.core(p, 1)
	re.Restore(restored)
	drain(re)
	// Asked again for a block, a different one must not produce a second
	// PRE-PREPARE for round 0.
	if err := re.Propose(block(1, "other")); err != nil {
		t.Fatal(err)
	}
	for _, m := range sent(drain(re), MsgPrePrepare) {
		if m.Digest != b.Hash {
			t.Fatal("restarted proposer signed a second PRE-PREPARE for round 0")
		}
	}
}
