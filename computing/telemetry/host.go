package telemetry

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ErrHostStats is returned (wrapped) by ProcHost.ReadHost when /proc cannot
// be read or parsed.
var ErrHostStats = errors.New("telemetry: host stats unavailable")

// HostStats is one raw reading of the host. CPU ticks are cumulative; the
// sampler turns two readings into a utilisation.
type HostStats struct {
	CPUCount             int
	CPUBusyTicks         uint64
	CPUTotalTicks        uint64
	Load1                float64
	MemoryTotalBytes     uint64
	MemoryAvailableBytes uint64
}

// HostSource reads host stats.
type HostSource interface {
	ReadHost() (HostStats, error)
}

// ProcHost reads Linux /proc: stat, loadavg and meminfo, from FS (normally
// os.DirFS("/proc")).
type ProcHost struct{ FS fs.FS }

// maxProcFile bounds what is read from one /proc file.
const maxProcFile = 1 << 20

func (p ProcHost) ReadHost() (HostStats, error) {
	var h HostStats
	stat, err := p.read("stat")
	if err != nil {
		return h, err
	}
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cpu "):
			// user nice system idle iowait irq softirq steal ...
			var total, idle uint64
			for i, f := range strings.Fields(line)[1:] {
				v, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					return h, fmt.Errorf("%w: /proc/stat: %v", ErrHostStats, err)
				}
				if i >= 8 { // guest time is already counted in user
					break
				}
				total += v
				if i == 3 || i == 4 {
					idle += v
				}
			}
			h.CPUTotalTicks, h.CPUBusyTicks = total, total-idle
		case strings.HasPrefix(line, "cpu"):
			h.CPUCount++
		}
	}
	load, err := p.read("loadavg")
	if err != nil {
		return h, err
	}
	if f := strings.Fields(string(load)); len(f) > 0 {
		if h.Load1, err = strconv.ParseFloat(f[0], 64); err != nil {
			return h, fmt.Errorf("%w: /proc/loadavg: %v", ErrHostStats, err)
		}
	}
	mem, err := p.read("meminfo")
	if err != nil {
		return h, err
	}
	sc = bufio.NewScanner(bytes.NewReader(mem))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			h.MemoryTotalBytes = v * 1024
		case "MemAvailable:":
			h.MemoryAvailableBytes = v * 1024
		}
	}
	return h, nil
}

func (p ProcHost) read(name string) ([]byte, error) {
	f, err := p.FS.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHostStats, err)
	}
	defer f.Close()
	buf := make([]byte, maxProcFile)
	n, err := readFull(f, buf)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrHostStats, name, err)
	}
	return buf[:n], nil
}

func readFull(f fs.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			if errors.Is(err, fs.ErrClosed) {
				return n, err
			}
			return n, nil // io.EOF or a short /proc read
		}
	}
	return n, nil
}
