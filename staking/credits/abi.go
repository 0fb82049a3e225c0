package credits

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"buyCredits","stateMutability":"payable","inputs":[{"name":"to","type":"address"}],"outputs":[]},
 {"type":"function","name":"creditsOf","stateMutability":"view","inputs":[{"name":"account","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"totalCredits","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"reserve","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"burned","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"creditPrice","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"event","name":"CreditsBought","anonymous":false,"inputs":[{"name":"buyer","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},{"name":"credits","type":"uint256","indexed":false},{"name":"paidWei","type":"uint256","indexed":false}]},
 {"type":"event","name":"CreditsSpent","anonymous":false,"inputs":[{"name":"from","type":"address","indexed":true},{"name":"provider","type":"address","indexed":true},{"name":"credits","type":"uint256","indexed":false},{"name":"providerWei","type":"uint256","indexed":false},{"name":"burnedWei","type":"uint256","indexed":false}]}
]`
