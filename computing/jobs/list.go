package jobs

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/state/native"
)

// ErrUnknownState is returned by ParseState for a name no state has.
var ErrUnknownState = errors.New("jobs: unknown job state")

// ParseState returns the state String spells name, or ErrUnknownState.
func ParseState(name string) (State, error) {
	for s := StateSubmitted; s <= StateRefunded; s++ {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownState, name)
}

// Query selects a page of jobs for List. Owner, when set, lists that
// submitter's jobs in submission order; otherwise every job by id. Offset
// and Limit page that list (Limit is capped at MaxPage; 0 means MaxPage).
// State, when not zero, keeps only the page's jobs in that state, so a page
// may hold fewer than Limit jobs: page on with Page.NextOffset.
type Query struct {
	Owner  *common.Address
	State  State
	Offset uint64
	Limit  uint64
}

// Page is one page of List. Total counts the listed set (the owner's jobs,
// or every job) before the state filter; NextOffset is the offset of the
// next page (equal to Total once the page reached the end).
type Page struct {
	Total      uint64
	NextOffset uint64
	Jobs       []Job
}

// List reads the page q selects from s: the one listing behind emc_jobs
// and the operator API's ListJobs.
func List(s native.StateReader, q Query) (Page, error) {
	limit := q.Limit
	if limit == 0 || limit > MaxPage {
		limit = MaxPage
	}
	var ids []uint64
	var total uint64
	if q.Owner != nil {
		ids, total = JobsOf(s, *q.Owner, q.Offset, limit)
	} else {
		total = JobCount(s)
		for id := q.Offset + 1; id <= total && uint64(len(ids)) < limit; id++ {
			ids = append(ids, id)
		}
	}
	p := Page{Total: total, NextOffset: q.Offset + uint64(len(ids))}
	if q.Offset >= total {
		p.NextOffset = total
	}
	for _, id := range ids {
		j, ok, err := JobOf(s, id)
		if err != nil {
			return Page{}, err
		}
		if !ok {
			return Page{}, fmt.Errorf("job %d listed but not found: %w", id, ErrCorrupt)
		}
		if q.State != 0 && j.State != q.State {
			continue
		}
		p.Jobs = append(p.Jobs, j)
	}
	return p, nil
}
