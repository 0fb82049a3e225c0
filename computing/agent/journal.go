package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// journalVersion is the journal file's format version.
const journalVersion = 1

// maxJournalBytes bounds the journal file (MaxJobs entries are far below).
const maxJournalBytes = 1 << 20

// ErrBadJournal is returned by LoadJournal for a journal file that does not
// decode or breaks a bound.
var ErrBadJournal = errors.New("agent: bad journal")

type journalFile struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// Journal is the agent's journal file (DATADIR/compute/agent/journal.json):
// the entries of the jobs the agent holds. It is replaced whole on each
// save (write a temporary file, fsync, rename, fsync the directory), so a
// crash leaves the old or the new journal, never a torn one.
type Journal struct{ path string }

// NewJournal returns the journal at path.
func NewJournal(path string) *Journal { return &Journal{path: path} }

// Path returns the file's path.
func (j *Journal) Path() string { return j.path }

// Load reads the journal; a missing file is an empty journal.
func (j *Journal) Load() ([]Entry, error) {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: journal: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJournalBytes+1))
	if err != nil {
		return nil, fmt.Errorf("agent: journal: %w", err)
	}
	return DecodeJournal(data)
}

// Save replaces the journal with entries.
func (j *Journal) Save(entries []Entry) error {
	data, err := EncodeJournal(entries)
	if err != nil {
		return err
	}
	dir := filepath.Dir(j.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".journal-*")
	if err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("agent: journal: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("agent: journal: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	if err := os.Rename(tmp.Name(), j.path); err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// EncodeJournal returns the journal file's bytes for entries.
func EncodeJournal(entries []Entry) ([]byte, error) {
	if len(entries) > MaxJobs {
		return nil, fmt.Errorf("%w: %d entries (at most %d)", ErrBadJournal, len(entries), MaxJobs)
	}
	if entries == nil {
		entries = []Entry{}
	}
	data, err := json.MarshalIndent(journalFile{Version: journalVersion, Entries: entries}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJournal, err)
	}
	return append(data, '\n'), nil
}

// DecodeJournal parses a journal file: its version, at most MaxJobs
// entries with distinct ids, each in a known phase.
func DecodeJournal(data []byte) ([]Entry, error) {
	if len(data) > maxJournalBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadJournal, len(data), maxJournalBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f journalFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJournal, err)
	}
	if f.Version != journalVersion {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrBadJournal, f.Version, journalVersion)
	}
	if len(f.Entries) > MaxJobs {
		return nil, fmt.Errorf("%w: %d entries (at most %d)", ErrBadJournal, len(f.Entries), MaxJobs)
	}
	seen := make(map[uint64]bool, len(f.Entries))
	for _, e := range f.Entries {
		switch {
		case e.ID == 0 || seen[e.ID]:
			return nil, fmt.Errorf("%w: job id %d zero or repeated", ErrBadJournal, e.ID)
		case e.Phase < PhaseAccepting || e.Phase > PhaseReexecReporting:
			return nil, fmt.Errorf("%w: job %d in unknown phase %d", ErrBadJournal, e.ID, e.Phase)
		case e.Phase == PhaseReporting && e.Record == [32]byte{}:
			return nil, fmt.Errorf("%w: job %d reporting without a record", ErrBadJournal, e.ID)
		case e.Phase == PhaseReexecReporting && e.Digest == [32]byte{}:
			return nil, fmt.Errorf("%w: job %d re-execution reporting without a digest", ErrBadJournal, e.ID)
		case e.Phase.reexec() != (e.Attempt == 0):
			return nil, fmt.Errorf("%w: job %d: attempt %d in phase %s", ErrBadJournal, e.ID, e.Attempt, e.Phase)
		}
		seen[e.ID] = true
	}
	return f.Entries, nil
}
