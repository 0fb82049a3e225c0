package node

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
)

// Background components report fatal errors on Err; nobody may block on
// that channel, even when every component fails and nobody reads it.
func TestFailNeverBlocks(t *testing.T) {
	n := &Node{log: slog.New(slog.DiscardHandler), errCh: make(chan error, 2)}
	first := errors.New("first")
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.fail("test", first)
		for i := 0; i < 10; i++ {
			n.fail("test", fmt.Errorf("later %d", i))
		}
		n.spawn(func() error { return errors.New("spawned") })
		n.goServe("test", func() error { return errors.New("serve") })
		n.wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reporting an error blocked with nobody reading Err")
	}
	if err := <-n.Err(); !errors.Is(err, first) {
		t.Fatalf("first error on Err = %v, want %v", err, first)
	}
}

// A dev data dir made with another dev genesis (an older emcd) is refused
// with the way out in the message.
func TestDevDataDirFromAnotherGenesis(t *testing.T) {
	dir := config.NewDataDir(t.TempDir())
	g := genesis.Dev()
	g.Timestamp++ // any other dev genesis
	n, err := New(Config{Role: RoleValidator, Dev: true, Genesis: g, DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	_, err = New(Config{Role: RoleValidator, Dev: true, DataDir: dir}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, state.ErrGenesisMismatch) || !strings.Contains(err.Error(), "rm -rf "+dir.Path) {
		t.Fatalf("reopening a dev dir of another genesis: %v", err)
	}
}
