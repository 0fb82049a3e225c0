package main

import (
	"strings"
	"testing"
)

// summarizeStuck keeps the goroutines waiting a minute or more outside the
// runtime, counts identical stacks once and drops the runtime's frames.
func TestSummarizeStuck(t *testing.T) {
	dump := `SIGQUIT: quit
PC=0x4b6281 m=0 sigcode=0

goroutine 1 gp=0x1 m=nil [select, 3 minutes]:
runtime.gopark(0x1?, 0x2?)
	/usr/local/go/src/runtime/proc.go:462 +0xce fp=0x1 sp=0x2 pc=0x3
runtime.selectgo(0x1, 0x2)
	/usr/local/go/src/runtime/select.go:351 +0xaa5
github.com/x/y.(*Writer).loop(0xc000)
	/src/y/writer.go:10 +0x1
created by github.com/x/y.New in goroutine 1
	/src/y/y.go:5 +0x2

goroutine 7 gp=0x2 m=nil [select, 2 minutes]:
runtime.gopark(0x1?, 0x2?)
	/usr/local/go/src/runtime/proc.go:462 +0xce
github.com/x/y.(*Writer).loop(0xc001)
	/src/y/writer.go:10 +0x1
created by github.com/x/y.New in goroutine 1
	/src/y/y.go:5 +0x2

goroutine 2 gp=0x3 m=nil [force gc (idle), 3 minutes]:
runtime.gopark(0x0?)
	/usr/local/go/src/runtime/proc.go:462 +0xce
runtime.forcegchelper()
	/usr/local/go/src/runtime/proc.go:375 +0xb3
created by runtime.init.7 in goroutine 1
	/usr/local/go/src/runtime/proc.go:363 +0x1a

goroutine 9 gp=0x4 m=nil [chan receive]:
github.com/x/z.busy()
	/src/z/z.go:1 +0x1
`
	got := summarizeStuck(dump, 1<<10)
	t.Log(got)
	if !strings.HasPrefix(got, "2 of 4 goroutines blocked for a minute or more outside the runtime (1 stacks):") {
		t.Fatalf("summary: %q", got)
	}
	if !strings.Contains(got, "2× [select, 3 minutes]\n  github.com/x/y.(*Writer).loop\n  created by github.com/x/y.New in goroutine 1\n") {
		t.Fatalf("stack: %q", got)
	}
	if strings.Contains(got, "runtime.") || strings.Contains(got, "z.busy") {
		t.Fatalf("runtime frames or a goroutine waiting under a minute kept: %q", got)
	}
	if small := summarizeStuck(dump, 10); !strings.HasSuffix(small, "(1 stacks):\n") {
		t.Fatalf("over the byte limit: %q", small)
	}
}
