package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
)

// MaxRecordSize bounds one record's payload.
const MaxRecordSize = 16 << 20

// headerSize is the frame header: length and CRC.
const headerSize = 8

var (
	// ErrTooLarge is returned by Append for a record over MaxRecordSize.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrClosed is returned by operations on a closed log.
	ErrClosed = errors.New("wal: closed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Log is what a consensus driver needs from a WAL.
type Log interface {
	// Append adds a record; it is durable only after Sync.
	Append(record []byte) error
	// Sync makes every appended record durable.
	Sync() error
	// Reset drops every record (after the height they belong to is stored).
	Reset() error
}

var (
	_ Log = (*File)(nil)
	_ Log = (*Memory)(nil)
)

// AppendFrame appends the framed record to dst.
func AppendFrame(dst, record []byte) []byte {
	var h [headerSize]byte
	binary.BigEndian.PutUint32(h[:4], uint32(len(record)))
	crc := crc32.Update(0, castagnoli, h[:4])
	crc = crc32.Update(crc, castagnoli, record)
	binary.BigEndian.PutUint32(h[4:], crc)
	dst = append(dst, h[:]...)
	return append(dst, record...)
}

// DecodeFrames parses framed records from data. It stops at the first
// incomplete, oversized or corrupt frame and returns the records before it
// and the length of the intact prefix: a torn tail is not an error.
func DecodeFrames(data []byte) (records [][]byte, valid int) {
	for {
		rest := data[valid:]
		if len(rest) < headerSize {
			return records, valid
		}
		n := binary.BigEndian.Uint32(rest[:4])
		if n > MaxRecordSize || uint64(len(rest)-headerSize) < uint64(n) {
			return records, valid
		}
		crc := crc32.Update(0, castagnoli, rest[:4])
		crc = crc32.Update(crc, castagnoli, rest[headerSize:headerSize+int(n)])
		if crc != binary.BigEndian.Uint32(rest[4:headerSize]) {
			return records, valid
		}
		records = append(records, slices.Clone(rest[headerSize:headerSize+int(n)]))
		valid += headerSize + int(n)
	}
}

// File is a WAL in one file.
type File struct {
	f *os.File
}

// Open opens (creating if needed) the WAL at path, returns the records it
// holds, and truncates any torn tail so appends continue after the last
// intact record.
func Open(path string) (*File, [][]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: read: %w", err)
	}
	records, valid := DecodeFrames(data)
	if valid < len(data) {
		if err := f.Truncate(int64(valid)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: truncate torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: sync: %w", err)
		}
	}
	if _, err := f.Seek(int64(valid), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: seek: %w", err)
	}
	return &File{f: f}, records, nil
}

// Append implements Log.
func (w *File) Append(record []byte) error {
	if w.f == nil {
		return ErrClosed
	}
	if len(record) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(record))
	}
	if _, err := w.f.Write(AppendFrame(nil, record)); err != nil {
		return fmt.Errorf("wal: append: %w", err)
	}
	return nil
}

// Sync implements Log with fsync.
func (w *File) Sync() error {
	if w.f == nil {
		return ErrClosed
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("wal: sync: %w", err)
	}
	return nil
}

// Reset implements Log: truncate to empty and fsync.
func (w *File) Reset() error {
	if w.f == nil {
		return ErrClosed
	}
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("wal: reset: %w", err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("wal: reset: %w", err)
	}
	return w.Sync()
}

// Close closes the file.
func (w *File) Close() error {
	if w.f == nil {
		return ErrClosed
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Memory is a WAL in memory with the same framing as File. Bytes appended
// but not synced are lost by Crash, as an OS crash would lose them.
type Memory struct {
	data   []byte
	synced int
}

// Append implements Log.
func (m *Memory) Append(record []byte) error {
	if len(record) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(record))
	}
	m.data = AppendFrame(m.data, record)
	return nil
}

// Sync implements Log.
func (m *Memory) Sync() error {
	m.synced = len(m.data)
	return nil
}

// Reset implements Log.
func (m *Memory) Reset() error {
	m.data, m.synced = nil, 0
	return nil
}

// Bytes returns the log's content, synced or not.
func (m *Memory) Bytes() []byte { return m.data }

// Crash drops unsynced bytes, keeping keep of them (a torn write when keep
// is short of a whole frame).
func (m *Memory) Crash(keep int) {
	end := min(m.synced+max(keep, 0), len(m.data))
	m.data = m.data[:end]
	m.synced = end
}

// Records replays the log as Open would.
func (m *Memory) Records() [][]byte {
	recs, valid := DecodeFrames(m.data)
	m.data = m.data[:valid]
	m.synced = min(m.synced, valid)
	return recs
}

// ErrCrashed is returned by Crashing for the append it crashes on and for
// every call after it.
var ErrCrashed = errors.New("wal: simulated crash")

// Crashing wraps a Memory log and crashes on a chosen append, after
// CometBFT's crashingWAL: that append is torn (of the unsynced bytes, the
// previous appends of the batch and the new frame, only Torn survive) and
// it and every later call return ErrCrashed. A driver under test must
// treat ErrCrashed as its process dying: nothing of the batch is sent.
type Crashing struct {
	Log *Memory
	// CrashIn is the number of appends until the crash, counting the one
	// that crashes; 0 means never. Set it to arm the wrapper.
	CrashIn int
	// Torn is how many unsynced bytes survive the crash.
	Torn    int
	crashed bool
}

var _ Log = (*Crashing)(nil)

// Append implements Log.
func (c *Crashing) Append(record []byte) error {
	if c.crashed {
		return ErrCrashed
	}
	if c.CrashIn > 0 {
		c.CrashIn--
		if c.CrashIn == 0 {
			c.crashed = true
			_ = c.Log.Append(record)
			c.Log.Crash(c.Torn)
			return ErrCrashed
		}
	}
	return c.Log.Append(record)
}

// Sync implements Log.
func (c *Crashing) Sync() error {
	if c.crashed {
		return ErrCrashed
	}
	return c.Log.Sync()
}

// Reset implements Log.
func (c *Crashing) Reset() error {
	if c.crashed {
		return ErrCrashed
	}
	return c.Log.Reset()
}

// Crashed reports whether the wrapper has crashed.
func (c *Crashing) Crashed() bool { return c.crashed }
