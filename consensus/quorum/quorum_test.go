package quorum

import (
	"testing"
	"testing/quick"
)

// slowSize is the obviously-right definition: the least q with 3q >= 2n.
func slowSize(n int) int {
	q := 0
	for 3*q < 2*n {
		q++
	}
	return q
}

func TestSizeMatchesDefinition(t *testing.T) {
	f := func(n uint16) bool { return Size(int(n)) == slowSize(int(n)) }
	if err := quick.Check(f, nil); err != nil {
		t.Fatal(err)
	}
}

func TestQuorumsIntersectInAnHonestNode(t *testing.T) {
	for n := 1; n <= 200; n++ {
		q, f := Size(n), Faulty(n)
		// Two quorums overlap in at least 2q-n validators; that overlap must
		// exceed the f that may be byzantine.
		if 2*q-n <= f {
			t.Fatalf("n=%d q=%d f=%d: quorums may intersect only in faulty nodes", n, q, f)
		}
		// Liveness: the honest validators alone form a quorum.
		if n-f < q {
			t.Fatalf("n=%d q=%d f=%d: honest nodes cannot reach quorum", n, q, f)
		}
	}
	for _, c := range []struct{ n, q, f int }{{1, 1, 0}, {4, 3, 1}, {7, 5, 2}, {10, 7, 3}, {6, 4, 1}} {
		if Size(c.n) != c.q || Faulty(c.n) != c.f {
			t.Errorf("n=%d: got q=%d f=%d, want q=%d f=%d", c.n, Size(c.n), Faulty(c.n), c.q, c.f)
		}
	}
}
