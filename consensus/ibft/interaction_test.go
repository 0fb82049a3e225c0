package ibft

// Interaction tests in the style of etcd raft's interaction_test.go: each
// file in testdata/ is a script of commands, each followed by "----" and
// the output it must produce. The harness is a loss-free in-memory network
// of cores; node i is the i-th validator in sorted order, so the proposer
// of (h, r) is node (h+r) mod n. Regenerate the golden output with
//
//	go test ./consensus/ibft -run TestInteraction -rewrite
//
// and review the diff as code. Commands:
//
//	add-nodes N          start N validators at height 1
//	propose I [TAG]      node I answers its pending block request
//	deliver-msgs         deliver every queued message once
//	stabilize            deliver until no message is in flight
//	tick [N]             tick every live node N times (default 1)
//	isolate I            drop all traffic to and from node I
//	drop CODE            drop every message of CODE (e.g. COMMIT)
//	heal                 undo isolate and drop
//	restart I            node I crashes and restarts from its WAL
//	status               print every node's view
//	equivocate I CODE    node I signs a conflicting copy of its latest CODE
//	                     message (another digest) and broadcasts it
//	hold I CODE          keep node I's CODE messages back until release
//	release              put held messages in flight
//	certificate I        print node I's certificate of its latest block
//
// Evidence a core reports is printed as "nI evidence: nJ CODE h= r=".

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden output of interaction tests")

func TestInteraction(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptCase struct {
	comment []string // "#" lines before the command, kept by -rewrite
	cmd     string
	want    string
}

func parseScript(t *testing.T, path string) []scriptCase {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []scriptCase
	var comment []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "#") {
			comment = append(comment, l)
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command without ----", path, i+1)
		}
		var out []string
		j := i + 2
		for ; j < len(lines) && lines[j] != ""; j++ {
			out = append(out, lines[j])
		}
		cases = append(cases, scriptCase{comment: comment, cmd: l, want: strings.Join(out, "\n")})
		comment = nil
		i = j
	}
	return cases
}

func runScript(t *testing.T, path string) {
	cases := parseScript(t, path)
	h := &harness{t: t, dropCode: -1}
	var rewritten strings.Builder
	for _, c := range cases {
		got := strings.TrimRight(h.run(c.cmd), "\n")
		if got == "" {
			got = "ok"
		}
		if *rewrite {
			for _, l := range c.comment {
				fmt.Fprintln(&rewritten, l)
			}
			fmt.Fprintf(&rewritten, "%s\n----\n%s\n\n", c.cmd, got)
			continue
		}
		if got != c.want {
			t.Fatalf("%s: %s\ngot:\n%s\nwant:\n%s", path, c.cmd, got, c.want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type hnode struct {
	core *Core
	wal  []Record
	need *View
	last map[Code]*Message // latest message of each code this node sent
	head Proposal          // latest block committed (Raw unset)
}

type envelope struct {
	from, to int
	msg      *Message
}

type harness struct {
	t        *testing.T
	tn       *testNet
	nodes    []*hnode
	inflight []envelope
	isolated map[int]bool
	dropCode int
	hold     map[[2]int]bool // (node, code) held back
	held     []envelope
	out      strings.Builder
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(&h.out, format+"\n", args...) }

func (h *harness) run(line string) string {
	h.out.Reset()
	f := strings.Fields(line)
	arg := func(i, def int) int {
		if len(f) <= i {
			return def
		}
		v, err := strconv.Atoi(f[i])
		if err != nil {
			h.t.Fatalf("%s: %v", line, err)
		}
		return v
	}
	switch f[0] {
	case "add-nodes":
		n := arg(1, 4)
		h.tn = newTestNet(h.t, n)
		h.isolated = make(map[int]bool)
		h.hold = make(map[[2]int]bool)
		for i := range n {
			h.nodes = append(h.nodes, &hnode{core: h.tn.core(i, 1), last: make(map[Code]*Message)})
		}
		for i := range n {
			h.process(i)
		}
	case "propose":
		i := arg(1, 0)
		n := h.nodes[i]
		if n.need == nil {
			h.t.Fatalf("%s: node %d was not asked to propose", line, i)
		}
		tag := "block"
		if len(f) > 2 {
			tag = f[2]
		}
		p := block(n.need.Height, fmt.Sprintf("%s-h%d-n%d", tag, n.need.Height, i))
		n.need = nil
		if err := n.core.Propose(p); err != nil {
			h.t.Fatal(err)
		}
		h.process(i)
	case "deliver-msgs":
		h.deliver()
	case "stabilize":
		for len(h.inflight) > 0 {
			h.deliver()
		}
	case "tick":
		for range arg(1, 1) {
			for i, n := range h.nodes {
				n.core.Tick()
				h.process(i)
			}
		}
	case "isolate":
		h.isolated[arg(1, 0)] = true
	case "drop":
		h.dropCode = int(h.code(f[1]))
	case "heal":
		h.isolated, h.dropCode = make(map[int]bool), -1
	case "restart":
		i := arg(1, 0)
		n := h.nodes[i]
		c := h.tn.core(i, n.core.Height())
		c.Restore(n.wal)
		h.nodes[i] = &hnode{core: c, wal: n.wal, last: n.last, head: n.head}
		h.printf("n%d restarts at height %d with %d WAL records", i, c.Height(), len(n.wal))
		h.process(i)
	case "equivocate":
		i, code := arg(1, 0), h.code(f[2])
		prev := h.nodes[i].last[code]
		if prev == nil {
			h.t.Fatalf("%s: node %d sent no %s", line, i, code)
		}
		m := &Message{Signed: prev.Signed, Proposal: prev.Proposal, RoundChanges: prev.RoundChanges, Prepares: prev.Prepares}
		m.CommitSeal, m.Signature = nil, nil
		if code == MsgPrePrepare {
			p := block(m.Height, fmt.Sprintf("equivocation-h%d-r%d-n%d", m.Height, m.Round, i))
			m.Digest, m.Proposal = p.Hash, p.Raw
		} else {
			m.Digest = crypto.Keccak256Hash(m.Digest[:], []byte("equivocation"))
		}
		h.tn.sign(i, m)
		h.printf("n%d equivocates: %s h=%d r=%d d=%s", i, m.Code, m.Height, m.Round, short(m.Digest))
		for j := range h.nodes {
			if j != i {
				h.inflight = append(h.inflight, envelope{i, j, m})
			}
		}
	case "hold":
		h.hold[[2]int{arg(1, 0), int(h.code(f[2]))}] = true
	case "release":
		h.printf("releasing %d messages", len(h.held))
		h.inflight = append(h.inflight, h.held...)
		h.hold, h.held = make(map[[2]int]bool), nil
	case "certificate":
		i := arg(1, 0)
		hd := h.nodes[i].head
		ct, ok := h.nodes[i].core.DecidedCertificate(hd.Height, hd.Hash)
		if !ok {
			h.printf("n%d: no certificate for h=%d", i, hd.Height)
			break
		}
		signers, err := ct.Verify(hd.Hash, h.tn.vals)
		if err != nil {
			h.t.Fatalf("n%d: certificate does not verify: %v", i, err)
		}
		var names []string
		for _, a := range signers {
			names = append(names, fmt.Sprintf("n%d", h.index(a)))
		}
		h.printf("n%d: certificate h=%d r=%d d=%s seals=%d by %s", i, hd.Height, ct.Round, short(hd.Hash), len(ct.Seals), strings.Join(names, ","))
	case "status":
		for i, n := range h.nodes {
			s := n.core.Status()
			h.printf("n%d: height %d round %d decided %v", i, s.Height, s.Round, s.Decided)
		}
	default:
		h.t.Fatalf("unknown command %q", line)
	}
	return h.out.String()
}

func (h *harness) code(name string) Code {
	for c := Code(0); c < numCodes; c++ {
		if c.String() == name {
			return c
		}
	}
	h.t.Fatalf("unknown code %q", name)
	return 0
}

func (h *harness) deliver() {
	batch := h.inflight
	h.inflight = nil
	for _, e := range batch {
		if h.isolated[e.from] || h.isolated[e.to] || int(e.msg.Code) == h.dropCode {
			continue
		}
		if h.hold[[2]int{e.from, int(e.msg.Code)}] {
			h.held = append(h.held, e)
			continue
		}
		// Late and repeated messages are routine; print only real rejections.
		if err := h.nodes[e.to].core.Step(e.msg); err != nil && !errors.Is(err, ErrOldMessage) && !errors.Is(err, ErrDuplicate) {
			h.printf("n%d rejects %s from n%d: %v", e.to, e.msg.Code, e.from, err)
		}
		h.process(e.to)
	}
}

func short(d [32]byte) string { return fmt.Sprintf("%x", d[:3]) }

// process is the driver loop: WAL, send, commit, validate, Advance.
func (h *harness) process(i int) {
	n := h.nodes[i]
	for n.core.HasReady() {
		rd := n.core.Ready()
		n.wal = append(n.wal, rd.WAL...)
		for _, o := range rd.Messages {
			m := o.Msg
			n.last[m.Code] = m
			desc := fmt.Sprintf("%s h=%d r=%d", m.Code, m.Height, m.Round)
			if m.Digest != [32]byte{} {
				desc += " d=" + short(m.Digest)
			}
			if m.Code == MsgRoundChange && m.Digest != [32]byte{} {
				desc += fmt.Sprintf(" prepared=%d", m.PreparedRound)
			}
			if len(m.RoundChanges) > 0 {
				desc += fmt.Sprintf(" rcs=%d prepares=%d", len(m.RoundChanges), len(m.Prepares))
			}
			if o.To != nil {
				to := h.index(*o.To)
				h.printf("n%d -> n%d %s", i, to, desc)
				h.inflight = append(h.inflight, envelope{i, to, m})
				continue
			}
			h.printf("n%d -> * %s", i, desc)
			for j := range h.nodes {
				if j != i {
					h.inflight = append(h.inflight, envelope{i, j, m})
				}
			}
		}
		if c := rd.Commit; c != nil {
			h.printf("n%d commits h=%d r=%d d=%s seals=%d", i, c.Proposal.Height, c.Round, short(c.Proposal.Hash), len(c.Cert.Seals))
			if _, err := c.Cert.Verify(c.Proposal.Hash, h.tn.vals); err != nil {
				h.t.Fatalf("n%d: certificate does not verify: %v", i, err)
			}
			n.head = Proposal{Height: c.Proposal.Height, Hash: c.Proposal.Hash}
		}
		for _, ev := range rd.Evidence {
			who, err := ev.Verify(h.tn.vals)
			if err != nil {
				h.t.Fatalf("n%d: evidence does not verify: %v", i, err)
			}
			code, height, round := ev.View()
			h.printf("n%d evidence: n%d %s h=%d r=%d", i, h.index(who), code, height, round)
		}
		if v := rd.NeedProposal; v != nil {
			n.need = v
			h.printf("n%d asked to propose h=%d r=%d", i, v.Height, v.Round)
		}
		validate := rd.Validate
		n.core.Advance()
		for _, p := range validate {
			n.core.ProposalValidated(p, crypto.Keccak256Hash(p.Raw), nil)
		}
		if c := rd.Commit; c != nil {
			n.wal = nil
			if err := n.core.NewHeight(c.Proposal.Height+1, h.tn.vals); err != nil {
				h.t.Fatal(err)
			}
		}
	}
}

func (h *harness) index(a [20]byte) int {
	for i, v := range h.tn.vals {
		if v == a {
			return i
		}
	}
	return -1
}
