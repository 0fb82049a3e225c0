package p2p

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// Scoreboard tests run in rounds on a simulated clock (geth dial_test style).
func TestScoreboardBanAndDecay(t *testing.T) {
	clk := new(mclock.Simulated)
	sb := NewScoreboard(clk, 10*time.Minute, time.Hour)
	if sb.Penalize("a", PenaltyInvalid) {
		t.Fatal("banned after one invalid")
	}
	// One half-life later the score is halved: another invalid does not ban.
	clk.Run(10 * time.Minute)
	if got := sb.Score("a"); got < 24 || got > 26 {
		t.Fatalf("decayed score %v, want 25", got)
	}
	if sb.Penalize("a", PenaltyInvalid) {
		t.Fatal("banned at 75")
	}
	if !sb.Penalize("a", PenaltyMalformed) || !sb.Banned("a") {
		t.Fatal("not banned at 100")
	}
	clk.Run(59 * time.Minute)
	if !sb.Banned("a") {
		t.Fatal("ban expired early")
	}
	clk.Run(time.Minute)
	if sb.Banned("a") {
		t.Fatal("ban did not expire")
	}
	if !sb.Penalize("b", PenaltyBan) || !sb.Banned("b") || sb.Banned("c") {
		t.Fatal("PenaltyBan must ban at once, only that peer")
	}
}

func TestFrameRoundTripAndLimit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrame(bytes.NewReader(buf.Bytes()), 5)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := ReadFrame(bytes.NewReader(buf.Bytes()), 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over-limit frame: %v", err)
	}
	// A huge declared length is refused without allocating it.
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	if _, err := ReadFrame(bytes.NewReader(huge), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge frame: %v", err)
	}
	buf.Reset()
	_ = WriteResponse(&buf, nil, errors.New("nope"))
	if _, err := ReadResponse(&buf, 10); !errors.Is(err, ErrRemote) {
		t.Fatalf("error reply: %v", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, []byte("abc"))
	f.Add(buf.Bytes())
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadFrame(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		var out bytes.Buffer
		_ = WriteFrame(&out, got)
		// Canonical when the varint was minimal: the re-encoding is a prefix.
		if !bytes.Equal(out.Bytes(), data[:out.Len()]) && len(data) >= out.Len() {
			if _, err := ReadFrame(bytes.NewReader(out.Bytes()), 1<<16); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestNamesCarryChainID(t *testing.T) {
	n := Names{ChainID: 7}
	for _, s := range []string{n.TxTopic(), n.ConsensusTopic(), n.Sync(), n.Direct(), n.Handshake()} {
		if len(s) < 8 || s[:8] != "/emcd/7/" {
			t.Fatalf("%q lacks the chain id prefix", s)
		}
	}
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(Status{ChainID: 1, HeadNumber: 9}.Encode())
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStatus(data)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), data) {
			t.Fatalf("decode→encode not canonical: %x", data)
		}
	})
}
