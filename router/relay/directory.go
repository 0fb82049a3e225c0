package relay

import (
	"slices"
	"sync"
)

// MemDirectory is an in-memory Directory, for tests and for wiring before
// the chain-backed directory (the apps module) exists. It is safe for
// concurrent use.
type MemDirectory struct {
	mu sync.RWMutex
	m  map[uint64]Entry
}

var _ Directory = (*MemDirectory)(nil)

// NewMemDirectory returns an empty in-memory directory.
func NewMemDirectory() *MemDirectory { return &MemDirectory{m: make(map[uint64]Entry)} }

// Put adds or replaces an entry.
func (d *MemDirectory) Put(e Entry) {
	e.Nodes = slices.Clone(e.Nodes)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[e.ID] = e
}

// Delete removes an entry.
func (d *MemDirectory) Delete(id uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, id)
}

// Instance implements Directory.
func (d *MemDirectory) Instance(id uint64) (Entry, bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.m[id]
	e.Nodes = slices.Clone(e.Nodes)
	return e, ok, nil
}
