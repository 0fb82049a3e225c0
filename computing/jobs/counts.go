package jobs

import "github.com/emc-network/emcd/state/native"

// Waiting returns how many jobs wait for a router (state submitted: the
// open list) and how many wait for their node to accept (assigned); two
// storage reads, cheap enough for a metrics scrape.
func Waiting(s native.StateReader) (submitted, assigned uint64) {
	return openList.Len(s), assignedList.Len(s)
}
