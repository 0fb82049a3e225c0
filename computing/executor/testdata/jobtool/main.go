// Command jobtool is the workload of the executor tests, built static
// (CGO_ENABLED=0) so it runs in a FROM scratch image. Each argument is one
// step, op:arg[:arg], run in order:
//
//	echo:TEXT           print TEXT to stdout      stderr:TEXT   to stderr
//	spew:N              print N bytes to stdout
//	write:PATH:N        write N bytes to $EMC_OUTPUT_DIR/PATH
//	copyin              copy every input file to the output dir
//	alloc:N             allocate and touch N bytes of memory
//	sleep:DUR           sleep                     exit:N   exit with N
//	grandchild:DUR:FILE start a child (in the same group) that sleeps then writes FILE
//	net                 exit 3 if any non-loopback interface is up or a dial works
//	whoami              print uid:gid             rootwrite  exit 4 if / is writable
//	env:NAME            print NAME's value
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	for _, step := range os.Args[1:] {
		op, arg, _ := strings.Cut(step, ":")
		switch op {
		case "echo":
			fmt.Println(arg)
		case "stderr":
			fmt.Fprintln(os.Stderr, arg)
		case "spew":
			n, _ := strconv.Atoi(arg)
			buf := []byte(strings.Repeat("x", 4095) + "\n")
			for ; n > 0; n -= len(buf) {
				os.Stdout.Write(buf[:min(n, len(buf))])
			}
		case "write":
			name, size, _ := strings.Cut(arg, ":")
			n, _ := strconv.Atoi(size)
			p := filepath.Join(os.Getenv("EMC_OUTPUT_DIR"), name)
			must(os.MkdirAll(filepath.Dir(p), 0o755))
			f, err := os.Create(p)
			must(err)
			buf := make([]byte, 64<<10)
			for i := range buf {
				buf[i] = byte('a' + i%26)
			}
			for ; n > 0; n -= len(buf) {
				_, err := f.Write(buf[:min(n, len(buf))])
				must(err)
			}
			must(f.Close())
		case "copyin":
			in, out := os.Getenv("EMC_INPUT_DIR"), os.Getenv("EMC_OUTPUT_DIR")
			must(filepath.Walk(in, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(in, p)
				dst := filepath.Join(out, "copy", rel)
				must(os.MkdirAll(filepath.Dir(dst), 0o755))
				src, err := os.Open(p)
				must(err)
				defer src.Close()
				f, err := os.Create(dst)
				must(err)
				_, err = io.Copy(f, src)
				must(err)
				return f.Close()
			}))
		case "alloc":
			n, _ := strconv.Atoi(arg)
			b := make([]byte, n)
			for i := 0; i < n; i += 4096 {
				b[i] = 1
			}
			fmt.Println("allocated", len(b))
		case "sleep":
			d, _ := time.ParseDuration(arg)
			time.Sleep(d)
		case "exit":
			n, _ := strconv.Atoi(arg)
			os.Exit(n)
		case "grandchild":
			d, file, _ := strings.Cut(arg, ":")
			self, _ := os.Executable()
			cmd := exec.Command(self, "sleep:"+d, "touch:"+file)
			must(cmd.Start())
		case "touch":
			must(os.WriteFile(arg, []byte("alive"), 0o644))
		case "net":
			ifs, _ := net.Interfaces()
			for _, i := range ifs {
				if i.Flags&net.FlagLoopback == 0 && i.Flags&net.FlagUp != 0 {
					fmt.Println("interface up:", i.Name)
					os.Exit(3)
				}
			}
			if c, err := net.DialTimeout("tcp", "1.1.1.1:53", time.Second); err == nil {
				c.Close()
				fmt.Println("dial worked")
				os.Exit(3)
			}
			fmt.Println("no network")
		case "whoami":
			fmt.Printf("%d:%d\n", os.Getuid(), os.Getgid())
		case "rootwrite":
			if err := os.WriteFile("/emc-probe", []byte("x"), 0o644); err == nil {
				fmt.Println("root fs writable")
				os.Exit(4)
			}
		case "env":
			fmt.Println(os.Getenv(arg))
		default:
			fmt.Fprintln(os.Stderr, "unknown step", step)
			os.Exit(2)
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
