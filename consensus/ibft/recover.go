package ibft

import "github.com/ethereum/go-ethereum/common"

// RecoverCache memoises signature recovery (about 45 µs each with cgo) for
// Config.Recover: the same PREPAREs and ROUND-CHANGEs are verified again
// inside justifications and certificates. It holds at most size results,
// evicting the oldest. Like the core, it is not safe for concurrent use.
type RecoverCache struct {
	size  int
	m     map[string]recoverResult
	order []string
	next  int
}

type recoverResult struct {
	addr common.Address
	err  error
}

// NewRecoverCache returns a cache of at most size entries (minimum 1).
func NewRecoverCache(size int) *RecoverCache {
	size = max(size, 1)
	return &RecoverCache{size: size, m: make(map[string]recoverResult, size)}
}

// Recover is Ecrecover, memoised; pass it as Config.Recover.
func (c *RecoverCache) Recover(digest, sig []byte) (common.Address, error) {
	k := string(digest) + string(sig)
	if r, ok := c.m[k]; ok {
		return r.addr, r.err
	}
	a, err := Ecrecover(digest, sig)
	if len(c.order) < c.size {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % c.size
	}
	c.m[k] = recoverResult{a, err}
	return a, err
}
