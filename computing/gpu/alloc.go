package gpu

import (
	"errors"
	"fmt"
	"sync"
)

// Errors returned by Allocator.Allocate.
var (
	// ErrInsufficientGPUs is returned when a job asks for more GPUs (with
	// enough memory) than the node has at all: it is refused up front
	// rather than queued, since waiting would never help.
	ErrInsufficientGPUs = errors.New("gpu: job asks for more GPUs than the node has")
	// ErrGPUsBusy is returned when the node has enough GPUs but too few
	// are free right now.
	ErrGPUsBusy = errors.New("gpu: not enough free GPUs")
	// ErrJobHasGPUs is returned when a job that already holds an allocation
	// asks for another.
	ErrJobHasGPUs = errors.New("gpu: job already holds GPUs")
)

// Unit is one thing a job can be given exclusively: a whole GPU, or a MIG
// instance of a GPU with MIG enabled (whose parent is then never given out
// whole).
type Unit struct {
	UUID string `json:"uuid"`
	// ParentUUID is the physical GPU of a MIG instance; empty for a GPU.
	ParentUUID string `json:"parent_uuid,omitempty"`
	Index      int    `json:"index"`
	Name       string `json:"name"`
	// MemoryTotalBytes is 0 when unknown; such a unit never satisfies a
	// minimum-memory request.
	MemoryTotalBytes uint64 `json:"memory_total_bytes"`
	Simulated        bool   `json:"simulated"`
}

// Units lists the allocatable units of an inventory, in device order.
func Units(inv *Inventory) []Unit {
	var units []Unit
	for _, d := range inv.Devices {
		if d.MIGEnabled != nil && *d.MIGEnabled {
			for _, m := range d.MIGDevices {
				units = append(units, Unit{
					UUID: m.UUID, ParentUUID: d.UUID, Index: d.Index,
					Name: d.Name + " MIG " + m.Name, MemoryTotalBytes: deref(m.MemoryTotalBytes),
					Simulated: d.Simulated,
				})
			}
			continue
		}
		units = append(units, Unit{
			UUID: d.UUID, Index: d.Index, Name: d.Name,
			MemoryTotalBytes: deref(d.MemoryTotalBytes), Simulated: d.Simulated,
		})
	}
	return units
}

// Allocation is the set of units a job holds.
type Allocation struct {
	JobID string
	Units []Unit
}

// UUIDs are the allocated units' UUIDs, what containers get as DeviceIDs.
func (a *Allocation) UUIDs() []string {
	out := make([]string, len(a.Units))
	for i, u := range a.Units {
		out[i] = u.UUID
	}
	return out
}

// Simulated is true when any allocated unit is simulated (and so cannot be
// passed to a container runtime).
func (a *Allocation) Simulated() bool {
	for _, u := range a.Units {
		if u.Simulated {
			return true
		}
	}
	return false
}

// Allocator hands out units exclusively: no unit is held by two jobs. It is
// safe for concurrent use.
type Allocator struct {
	mu    sync.Mutex
	units []Unit
	owner map[string]string // unit UUID -> job ID
	jobs  map[string]*Allocation
}

// NewAllocator allocates the units of inv.
func NewAllocator(inv *Inventory) *Allocator {
	return &Allocator{units: Units(inv), owner: map[string]string{}, jobs: map[string]*Allocation{}}
}

// Allocate gives job count units, each with at least minMemoryBytes, taking
// the lowest-indexed free ones. count 0 gives an empty allocation.
func (a *Allocator) Allocate(jobID string, count int, minMemoryBytes int64) (*Allocation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.jobs[jobID]; ok {
		return nil, fmt.Errorf("%w: %s", ErrJobHasGPUs, jobID)
	}
	var eligible, free []Unit
	for _, u := range a.units {
		if minMemoryBytes > 0 && u.MemoryTotalBytes < uint64(minMemoryBytes) {
			continue
		}
		eligible = append(eligible, u)
		if _, busy := a.owner[u.UUID]; !busy {
			free = append(free, u)
		}
	}
	if count > len(eligible) {
		return nil, fmt.Errorf("%w: asks for %d with at least %d bytes each, node has %d", ErrInsufficientGPUs, count, minMemoryBytes, len(eligible))
	}
	if count > len(free) {
		return nil, fmt.Errorf("%w: asks for %d, %d free", ErrGPUsBusy, count, len(free))
	}
	alloc := &Allocation{JobID: jobID, Units: append([]Unit(nil), free[:count]...)}
	for _, u := range alloc.Units {
		a.owner[u.UUID] = jobID
	}
	a.jobs[jobID] = alloc
	return alloc, nil
}

// Release returns a job's units. Releasing twice is a no-op.
func (a *Allocator) Release(jobID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	alloc, ok := a.jobs[jobID]
	if !ok {
		return
	}
	for _, u := range alloc.Units {
		delete(a.owner, u.UUID)
	}
	delete(a.jobs, jobID)
}

// Held returns how many units are allocated.
func (a *Allocator) Held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.owner)
}

// Total returns how many units there are.
func (a *Allocator) Total() int { return len(a.units) }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
