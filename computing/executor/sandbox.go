package executor

import (
	"strconv"

	"github.com/moby/moby/api/types/container"
)

// Sandbox is what a container of the compute runtime is allowed: the one
// definition of the isolation shared by jobs (Docker) and the EMC Hub's
// long-running app instances (computing/instance).
type Sandbox struct {
	// Network gives the container the default bridge; otherwise it has no
	// network at all (NetworkMode "none").
	Network bool
	// TmpfsBytes sizes the writable /tmp (the root file system is read
	// only).
	TmpfsBytes int64
	// LogTailBytes is what the runtime keeps of the output; Docker's own
	// log file is capped at four times that (at least 64 KiB).
	LogTailBytes int
	// PidsLimit bounds processes and threads; CPUMillicores CPU time (0:
	// no limit); MemoryBytes memory, with no swap (0: no limit).
	PidsLimit     int64
	CPUMillicores int64
	MemoryBytes   int64
	// GPUDriver and GPUUUIDs request those GPUs (none when empty).
	GPUDriver string
	GPUUUIDs  []string
}

// HostConfig returns the container host config of s: no capabilities, no
// new privileges, a read-only root, a size-capped /tmp, capped logs,
// process, CPU and memory limits, and only the GPUs named. Callers add
// their mounts and restart policy.
func (s Sandbox) HostConfig() *container.HostConfig {
	netMode := container.NetworkMode("none")
	if s.Network {
		netMode = "bridge"
	}
	pids := s.PidsLimit
	host := &container.HostConfig{
		NetworkMode:    netMode,
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=" + strconv.FormatInt(s.TmpfsBytes, 10)},
		// Docker keeps logs on the host: cap them there too.
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
			"max-size": strconv.Itoa(max(s.LogTailBytes*4, 64<<10)), "max-file": "1",
		}},
		Resources: container.Resources{
			PidsLimit: &pids,
			NanoCPUs:  s.CPUMillicores * 1_000_000,
		},
	}
	if s.MemoryBytes > 0 {
		// Swap equal to memory: no swap, so the limit bites.
		host.Resources.Memory = s.MemoryBytes
		host.Resources.MemorySwap = s.MemoryBytes
	}
	if len(s.GPUUUIDs) > 0 {
		host.Resources.DeviceRequests = []container.DeviceRequest{{
			Driver: s.GPUDriver, DeviceIDs: s.GPUUUIDs, Capabilities: [][]string{{"gpu"}},
		}}
	}
	return host
}
