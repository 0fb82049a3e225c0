package jsonrpc

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/results/fetch"
)

// relayBackend is a fakeBackend with a FAKE relay: it answers one file and
// refuses everything else as the real relay would.
type relayBackend struct {
	*fakeBackend
	got fetch.Auth
}

func (b *relayBackend) Result(_ context.Context, id uint64, path string, auth fetch.Auth) (*fetch.SmallFile, error) {
	b.got = auth
	if id == 1 && path == "out/a.txt" {
		return &fetch.SmallFile{File: fetch.File{Path: path, Size: 3, SHA256: common.Hash{0xab}}, Data: []byte("abc")}, nil
	}
	if id == 2 {
		return nil, &fetch.RefusedError{Code: fetch.CodeNotFinished, Message: "job 2 is running"}
	}
	return nil, fetch.ErrMismatch
}

func TestGetResult(t *testing.T) {
	b := &relayBackend{fakeBackend: newFakeBackend(t)}
	srv, err := NewServer(DefaultConfig(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := rpc.DialInProc(srv.rpc)
	defer client.Close()
	req := SignedResultRequest{Expiry: 1_800_000_000, Signature: make([]byte, 65)}
	var out json.RawMessage
	if err := client.CallContext(context.Background(), &out, "emc_getResult", hexutil.Uint64(1), "out/a.txt", req); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0x1","path":"out/a.txt","size":"0x3","sha256":"0xab00000000000000000000000000000000000000000000000000000000000000","data":"YWJj"}`
	if string(out) != want {
		t.Fatalf("emc_getResult:\n got %s\nwant %s", out, want)
	}
	if b.got.Expiry != 1_800_000_000 || len(b.got.Sig) != 65 {
		t.Fatalf("relay got %+v", b.got)
	}
	for id, code := range map[uint64]string{2: "not_finished", 3: "mismatch"} {
		err := client.CallContext(context.Background(), &out, "emc_getResult", hexutil.Uint64(id), "x", req)
		de, ok := err.(rpc.DataError)
		if !ok || de.ErrorData() != code {
			t.Fatalf("job %d: %v, want error data %q", id, err, code)
		}
	}
}
