package inventory

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// FuzzParseOffer: operator strings (config file, flags, env) never panic
// the parser, and every offer it accepts is one the registry accepts and
// that matches its own record.
func FuzzParseOffer(f *testing.F) {
	f.Add("5", "A100=7", "0", "sha256:"+strings.Repeat("ab", 32), uint8(1))
	f.Add("", "", "9", "", uint8(0))
	f.Add("H100=0", "=5", "-1", "0x12", uint8(3))
	f.Fuzz(func(t *testing.T, p1, p2, cpu, image string, gpus uint8) {
		s := Summary{InventoryHash: crypto.Keccak256Hash([]byte("inv"))}
		if gpus%4 != 0 {
			s.GPUCount, s.GPUModel, s.MemoryMiB = uint32(gpus%4), "H100", 80<<10
		}
		var prices, images []string
		for _, p := range []string{p1, p2} {
			if p != "" {
				prices = append(prices, p)
			}
		}
		if image != "" {
			images = []string{image}
		}
		o, err := ParseOffer(s, prices, cpu, images)
		if err != nil {
			return
		}
		l := Listing{Summary: s, Offer: o}
		rec, err := l.Record()
		if err != nil {
			t.Fatalf("accepted offer refused by the registry rules: %v", err)
		}
		if !l.Matches(&rec) {
			t.Fatal("an accepted listing does not match its own record")
		}
	})
}
