// Package credits is the Credits module: a chain-native module (see
// state/native) at native.CreditsAddress selling Credits, the second unit of
// the EMC economy, which pays for compute (jobs) and relay.
//
// Start reading at [Module] (the method table with each method's gas), then
// [Module.Spend] (the host API other modules spend Credits through) and
// state.go (the storage layout and the Go accessors the node uses).
//
// Solidity interface:
//
//	function buyCredits(address to) payable;        // msg.value / creditPrice Credits to `to`
//	function creditsOf(address account) view returns (uint256);
//	function totalCredits() view returns (uint256);  // Σ creditsOf
//	function reserve() view returns (uint256);       // wei held for unspent Credits
//	function burned() view returns (uint256);        // wei burned by spends
//	function creditPrice() view returns (uint256);   // wei per Credit (genesis param)
//	event CreditsBought(address indexed buyer, address indexed to, uint256 credits, uint256 paidWei);
//	event CreditsSpent(address indexed from, address indexed provider, uint256 credits, uint256 providerWei, uint256 burnedWei);
//
// Rules (white paper, read in docs/economics.md, section "Credits"):
//   - Credits are whole units bought at creditPriceWei (genesis param,
//     default 0.01 EMC). A payment that is not a whole multiple of the price
//     reverts, so the buyer keeps all of it; zero payments and the zero
//     address as recipient revert.
//   - Only a transaction's sender buys (buyCredits from a contract fails, as
//     all state-changing module methods do); view methods are open to
//     contracts.
//   - Credits are not transferable and not withdrawable: there is no ABI
//     method that moves or redeems them. The EMC paid stays in the module
//     account as the reserve.
//   - A module may hold Credits in escrow: [Module.Lock] moves them from an
//     account to the calling module's own balance, [Module.Release] back
//     out, and the module spends them with Spend from its own address (the
//     jobs module's submitJobCredits). These move Credits between balances
//     only: the total and the reserve do not change.
//   - Only other modules spend Credits, through [Module.Spend]: credits ×
//     price leaves the reserve, providerSharePercent (default 80 %) of it
//     to the provider, rounded down, and the rest burned: destroyed, counted
//     in burned().
//
// Invariant: the module account's balance == reserve() == totalCredits() ×
// creditPrice() == Σ creditsOf × creditPrice, and reserve + burned + paid to
// providers == all wei ever paid in (funds forced in by SELFDESTRUCT are the
// one exception: they raise the balance only).
package credits
