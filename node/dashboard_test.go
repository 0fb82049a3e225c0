package node

// The web dashboard in a real headless Chromium, driven over the Chrome
// DevTools Protocol (internal/cdp): a dev node as `emcd --dev` runs it
// (the compute market included, a block every half second) serves the
// page; it loads with no console error, exception or failed load; the head
// number it shows advances (over a WebSocket that no CORS entry allows:
// the same-origin rule a non-dev node relies on); a job submitted over JSON-RPC appears in the
// jobs table and changes state until settled; the search box finds it; on
// a phone-width viewport nothing overflows sideways. Screenshots (desktop
// and phone) go to $EMCD_SCREENSHOT_DIR when set, else to the test's temp
// dir; their paths are logged.

import (
	"context"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/internal/cdp"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/state/native"
)

// TestWithDashboard: the dashboard's paths reach it only when the node is
// configured to serve it; everything else goes to the RPC handler.
func TestWithDashboard(t *testing.T) {
	rpcH := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("rpc")) })
	for _, on := range []bool{true, false} {
		n := &Node{cfg: Config{Dashboard: on}, log: slog.New(slog.DiscardHandler)}
		h := n.withDashboard(rpcH)
		for _, path := range []string{"/dashboard/", "/dashboard", "/dashboard/app.js", "/", "/dashboardx", "/results/1"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			toRPC := rec.Body.String() == "rpc"
			wantRPC := !on || !(path == "/dashboard" || strings.HasPrefix(path, "/dashboard/"))
			if toRPC != wantRPC {
				t.Errorf("dashboard %t: GET %s went to rpc %t (status %d)", on, path, toRPC, rec.Code)
			}
		}
	}
}

func TestDashboardChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev node and a headless Chromium")
	}
	browserPath, err := cdp.Find()
	if err != nil {
		t.Skipf("%v: the dashboard is not tested in a browser here", err)
	}
	shots := os.Getenv("EMCD_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	g := genesis.Dev()
	dd := config.NewDataDir(t.TempDir())
	logs := &logBuf{}
	n, err := New(Config{
		Role: RoleValidator, Dev: true, DevMarket: true, DevAccounts: true, DataDir: dd, Genesis: g,
		RPCAddr: "127.0.0.1:0", Dashboard: true, DevPeriod: 500 * time.Millisecond,
		// No CORS entry matches the page: its WebSocket works through
		// the same-origin rule alone, as on a non-dev node.
		CORSDomains: []string{"https://elsewhere.example"},
		GPU: func() (gpu.Provider, error) {
			return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(1)})
		},
		TelemetryInterval:    time.Hour,
		Register:             RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1000000000000"}, CPUPriceWei: "1000000000000"},
		devHeartbeatInterval: heartbeat.MinPublishInterval,
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	browser, err := cdp.Launch(ctx, browserPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { browser.Close() })
	page, err := browser.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nconsole:\n%s\nnode log:\n%s", append(args, strings.Join(page.Console(), "\n"), logs)...)
	}
	wait := func(what, cond string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		if err := page.WaitFor(wctx, cond); err != nil {
			fail("waiting for %s: %v", what, err)
		}
	}
	text := func(expr string) string {
		t.Helper()
		var s string
		if err := page.Evaluate(ctx, expr, &s); err != nil {
			fail("%v", err)
		}
		return s
	}
	if err := page.SetViewport(ctx, 1280, 900, false); err != nil {
		t.Fatal(err)
	}
	url := "http://" + n.RPCAddr().String() + "/dashboard/"
	if err := page.Navigate(ctx, url); err != nil {
		fail("%v", err)
	}

	// Live, and the head advances.
	wait("the WebSocket", `document.getElementById("conn-text").textContent === "live"`)
	wait("the head", `document.getElementById("head-number").dataset.number !== undefined`)
	head0 := text(`document.getElementById("head-number").dataset.number`)
	wait("the head to advance", `Number(document.getElementById("head-number").dataset.number) > `+head0)
	t.Logf("head shown: %s, then %s", head0, text(`document.getElementById("head-number").dataset.number`))
	wait("the compute node", `document.querySelector("#nodes table") !== null && document.getElementById("nodes").textContent.includes("H100")`)
	wait("the validators", `document.querySelector("#validators tbody tr") !== null`)
	wait("the signed share", `document.getElementById("validators").textContent.includes("%")`)
	wait("supply", `document.getElementById("supply").textContent.includes("circulating")`)

	// A job submitted over JSON-RPC appears and changes state.
	src := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(src, []byte("#!/bin/sh\nsleep 1\necho \"hello $1\" > \"$EMC_OUTPUT_DIR/hello.txt\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	image, err := agent.NewPrograms(filepath.Join(dd.Compute(), "programs")).Load(src)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	spec := jobs.Spec{Image: image, Args: []string{"dashboard"}, GPUs: 1, TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
	enc, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := genesis.DevAccountKeys(1)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rpc.Dial("http://" + n.RPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const price = 1_000_000_000_000
	var txHash common.Hash
	if err := client.CallContext(ctx, &txHash, "eth_sendTransaction", map[string]any{
		"from": crypto.PubkeyToAddress(keys[0].PublicKey), "to": native.JobsAddress,
		"value": (*hexutil.Big)(big.NewInt(2 * price * 60)),
		"data":  hexutil.Bytes(pack(t, moduleABI(t, mods, native.JobsAddress), "submitJob", enc, big.NewInt(2*price))),
	}); err != nil {
		t.Fatal(err)
	}
	wait("job 1 in the table", `document.querySelector('#jobs tr[data-job-id="1"]') !== null`)
	// The compute node's chain score: a new node is neutral, 500,000 of a
	// million, shown as 50.0.
	wait("the node's score", `document.getElementById("nodes").textContent.includes("50.0")`)
	states := []string{text(`document.querySelector('#jobs tr[data-job-id="1"]').dataset.state`)}
	deadline := time.Now().Add(90 * time.Second)
	for states[len(states)-1] != "settled" {
		if time.Now().After(deadline) {
			fail("job 1 shown in states %v, never settled", states)
		}
		time.Sleep(50 * time.Millisecond)
		if s := text(`document.querySelector('#jobs tr[data-job-id="1"]').dataset.state`); s != states[len(states)-1] {
			states = append(states, s)
		}
	}
	if len(states) < 2 {
		fail("job 1 shown only as %v", states)
	}
	t.Logf("job 1 shown as %s", strings.Join(states, " → "))

	// The search box finds the job and its submitter.
	if err := page.Evaluate(ctx, `document.getElementById("search-input").value = "job 1";
		document.getElementById("search").requestSubmit(); true`, nil); err != nil {
		fail("%v", err)
	}
	wait("the job found", `document.getElementById("search-result").textContent.includes("Job #1")`)
	if got := text(`document.getElementById("search-result").textContent`); !strings.Contains(got, "settled") {
		fail("search result for job 1: %q", got)
	}
	searchFor := func(q, what, cond string) {
		t.Helper()
		if err := page.Evaluate(ctx, `document.getElementById("search-input").value = `+strconv.Quote(q)+`;
			document.getElementById("search").requestSubmit(); true`, nil); err != nil {
			fail("%v", err)
		}
		wait(what, cond)
	}
	searchFor(txHash.Hex(), "the submission found", `document.getElementById("search-result").textContent.includes("success") &&
		document.getElementById("search-result").textContent.includes("Transaction")`)
	searchFor("3", "block 3 found", `document.getElementById("search-result").textContent.includes("Block #3")`)
	searchFor("hello", "a bad query answered", `document.getElementById("search-result").textContent.includes("not a block number")`)
	searchFor(crypto.PubkeyToAddress(keys[0].PublicKey).Hex(), "the address found", `document.getElementById("search-result").textContent.includes("balance") && document.querySelector('#search-result tr[data-job-id="1"]') !== null`)
	// The apps panel: the dev chain has the apps module; an app published
	// and an instance deployed over JSON-RPC appear in it.
	wait("the apps panel", `document.getElementById("apps").textContent === "no apps published yet"`)
	appsABI := moduleABI(t, mods, native.AppsAddress)
	from := crypto.PubkeyToAddress(keys[0].PublicKey)
	send := func(tx map[string]any) {
		t.Helper()
		var h common.Hash
		if err := client.CallContext(ctx, &h, "eth_sendTransaction", tx); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"from": from, "to": native.AppsAddress, "data": hexutil.Bytes(pack(t, appsABI, "publishApp", common.HexToHash("0xab"),
		uint16(8080), "/health", "hello-app", "says hello", "none", big.NewInt(1_000_000_000), big.NewInt(0), uint16(500)))})
	wait("the app in the apps panel", `document.getElementById("apps").textContent.includes("hello-app") &&
		document.getElementById("apps").textContent.includes("5.00 %") &&
		document.getElementById("apps").textContent.includes("no instances deployed yet")`)
	send(map[string]any{"from": from, "to": native.AppsAddress, "value": (*hexutil.Big)(big.NewInt(1e18)),
		"data": hexutil.Bytes(pack(t, appsABI, "deploy", big.NewInt(1), uint32(0), uint64(1), common.HexToHash("0x4b")))})
	wait("the instance in the apps panel", `document.getElementById("apps").textContent.includes("Instances (1 in all")`)
	if err := page.Evaluate(ctx, `document.getElementById("search-close").click(); window.scrollTo(0, 0); true`, nil); err != nil {
		fail("%v", err)
	}
	save := func(name string) {
		t.Helper()
		png, err := page.Screenshot(ctx)
		if err != nil {
			fail("%v", err)
		}
		p := filepath.Join(shots, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}
	save("dashboard-desktop.png")

	// A phone: one column, nothing wider than the screen.
	if err := page.SetViewport(ctx, 390, 844, true); err != nil {
		t.Fatal(err)
	}
	wait("the phone layout", `document.documentElement.scrollWidth <= window.innerWidth + 1`)
	save("dashboard-phone.png")

	if p := page.Problems(); len(p) > 0 {
		fail("the page logged %d errors, the first:\n%s", len(p), strings.Join(p[:min(len(p), 5)], "\n"))
	}
}
