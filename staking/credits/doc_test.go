package credits_test

import (
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
)

// TestEconomicsDoc checks the "Credits" section of docs/economics.md against
// the module: each number of its worked example, in code font, is computed
// here (by running the example) and must appear in the section.
func TestEconomicsDoc(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "economics.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Credits\n")
	if !ok {
		t.Fatal(`docs/economics.md has no "## Credits" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")

	f := newFixture(t, "")
	price := f.mod.Params().CreditPriceWei
	if res, _ := f.buy(alice, emc(1), alice); res.err != nil {
		t.Fatal(res.reason())
	}
	bought := credits.CreditsOf(f.State, alice).Clone()
	if res, _ := f.spend(bob, alice, provider, 30); res.err != nil {
		t.Fatal(res.reason())
	}
	s, _ := f.mod.Split(uint256.NewInt(30))
	small, _ := credits.NewModule(credits.Params{CreditPriceWei: uint256.NewInt(7), ProviderSharePercent: 80})
	r, _ := small.Split(uint256.NewInt(3))
	want := []string{
		price.Dec(),
		bought.Dec(),
		"30",
		emcString(s.AmountWei),
		emcString(f.State.GetBalance(provider)),
		emcString(credits.Burned(f.State)),
		credits.CreditsOf(f.State, alice).Dec(),
		emcString(credits.Reserve(f.State)),
	}
	for _, w := range want {
		if !strings.Contains(section, "`"+w+"`") {
			t.Errorf("the Credits section lacks `%s`", w)
		}
	}
	for _, w := range []string{r.ProviderWei.Dec() + " wei to the provider", r.BurnedWei.Dec() + " wei burned"} {
		if !strings.Contains(section, w) {
			t.Errorf("the Credits section lacks %q", w)
		}
	}
}

// emcString formats wei as a decimal EMC amount without trailing zeros.
func emcString(wei *uint256.Int) string {
	r := new(big.Rat).SetFrac(wei.ToBig(), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	return strings.TrimRight(strings.TrimRight(r.FloatString(18), "0"), ".")
}
