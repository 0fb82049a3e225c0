// Package quorum holds the fault-tolerance arithmetic of IBFT 2.0: with n
// validators, F = ⌊(n−1)/3⌋ may be faulty and a quorum is ⌈2n/3⌉ (which is
// 2F+1 only when n = 3F+1).
package quorum

// Faulty returns F, the number of byzantine validators n tolerates.
func Faulty(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) / 3
}

// Size returns the quorum ⌈2n/3⌉ for n validators (rounding up: any two
// quorums then share at least one honest validator while n ≥ 3F+1).
func Size(n int) int {
	if n <= 0 {
		return 0
	}
	return (2*n + 2) / 3
}
