// Package staking is the staking module: a chain-native module (see
// state/native) at native.StakingAddress where owners lock EMC as stake for
// a role (validator, router or compute).
//
// Start reading at [Module] (the method table with each method's gas), then
// state.go (the storage layout and the Go accessors the node uses:
// [PositionOf], [EffectiveStake], [EffectiveValidators]).
//
// Solidity interface:
//
//	function stake(uint8 role, uint8 lock) payable;  // role 0 validator, 1 router, 2 compute; lock 0..4
//	function setSigner(address signer, bytes signature); // a validator's consensus key, with its consent
//	function unstake(uint256 amount);                // move stake into the unbonding queue
//	function withdraw();                             // pay the released unbonding entries
//	function stakeOf(address owner) view returns (uint8 role, uint256 amount, uint8 lock, uint64 unlockEpoch, address signer);
//	function unbondingOf(address owner) view returns (uint256[] amounts, uint64[] releaseEpochs);
//	function totalStake(uint8 role) view returns (uint256);
//	function owners(uint256 offset, uint256 limit) view returns (address[]);
//	function reportDoubleSign(bytes a, bytes b);     // two conflicting signed consensus messages
//	function jailed(address owner) view returns (bool);
//	function signerNonce(address signer) view returns (uint64); // the nonce its next consent signs
//	event Staked(address indexed owner, uint8 role, uint8 lock, uint256 amount, uint256 total, uint64 unlockEpoch);
//	event SignerSet(address indexed owner, address indexed signer);
//	event Unstaked(address indexed owner, uint256 amount, uint256 total, uint64 releaseEpoch);
//	event Withdrawn(address indexed owner, uint256 amount);
//	event Slashed(address indexed owner, address indexed signer, uint256 amount, address reporter, uint256 reward);
//
// Epochs. epoch = block number / epochLength, the genesis epochLength (the
// same epochs the validator set changes on); the module reads the block
// number from the call's block context.
//
// Rules (decided here):
//   - A position is (owner, role): one per owner. Its role is fixed from
//     the first stake until the position is empty again (no stake, no
//     unbonding entries); staking for another role before that reverts.
//   - Minimum stake per role (params; defaults validator 1,000,000 EMC,
//     router 100,000 EMC, compute 0 = any positive amount): a stake is zero
//     or at least its role's minimum. unstake() leaving a non-zero remainder
//     below the minimum reverts: unstake all, or less.
//   - Locks (rewards.Lock: none, 7, 30, 90, 180 days, counted in epochs by
//     the lockEpochs param) lock the whole position until unlockEpoch =
//     stake epoch + lock epochs; unstake() reverts before it. Adding to a
//     position keeps one lock: the one that ends later (ties: the longer
//     term); an empty position or an expired lock takes the new one.
//   - unstake(amount) in epoch e moves amount to an unbonding entry
//     released at e + 1 + unbondingEpochs: the stake counts through epoch e
//     (the snapshot), then waits unbondingEpochs whole epochs, the window
//     in which slashing can still reach it. Entries of one epoch merge; at
//     most maxUnbonding entries per owner. withdraw() pays every released
//     entry and reverts when none is released.
//   - setSigner(s, signature): only a validator position with stake may
//     set one; s may not be the zero address, another owner's signer, or
//     an address that owns a position; an address claimed as a signer
//     cannot stake as a validator (its default signer, itself, would sign
//     twice). The claim needs the consent of the signer key: signature is
//     s's secp256k1 signature (65 bytes [R ‖ S ‖ V], V 0/1 or 27/28, low
//     S) over keccak256("emcd:setSigner" ‖ chainId (32 bytes) ‖ module
//     address ‖ owner ‖ s ‖ nonce (8 bytes)), nonce being s's
//     [SignerNonce], which every successful claim of s raises: a consent
//     serves one claim, by one owner, on one chain ([SignSignerConsent],
//     consent.go). So nobody can squat another operator's key, take the
//     node rewards paid to its owner or keep it from validating.
//     setSigner(own address, empty signature) clears the signer (the
//     owner's transaction is its consent). The signer defaults to the
//     owner; changes apply to the state at once (the validator-set change
//     reads the boundary's parent state). A claim stays with its owner
//     when the position empties. Genesis stakes with a signer need no
//     signature: genesis is signed off by every party.
//   - Snapshot: a position stores its amount, the amount effective before
//     its last change and the epoch that change takes effect (last change's
//     epoch + 1), so [EffectiveStake] ignores every change made during an
//     epoch without any end-of-epoch hook: staking and unstaking within an
//     epoch changes nothing effective.
//   - Bounds: at most maxPositions owners with a position; at most
//     maxUnbonding entries per owner; calls from contracts may only read.
//   - Validator set ([Module.NextValidators], the chain's
//     native.ValidatorSource): at each epoch-boundary block, from its
//     parent's state, the validator positions that are not jailed and
//     whose stake effective in the new epoch is at least the validator
//     minimum are eligible; ordered by stake descending then owner
//     ascending ([EffectiveValidators]), the first K give their signers,
//     K the largest 3F+1 at most min(eligible, maxValidators) ([SetSize]).
//     With fewer than minValidators eligible the set stays (nil).
//   - Genesis stakes (param genesisStakes, [Module.GenesisState]):
//     validator positions (and router positions, "role": 1, with no
//     signer) effective from epoch 0, stored as stake() and setSigner()
//     would; the module's genesis balance is their sum. When validator
//     stakes are seeded the node checks that genesis' validators are the
//     set they elect ([Module.CheckGenesisValidators]).
//   - Slashing: reportDoubleSign(a, b) takes two RLP-encoded ibft.Signed
//     messages ([EncodeSigned], [DecodeDoubleSign]) of one code, height
//     and round that conflict and recover to one signer, the signer of a
//     validator position holding stake or unbonding entries
//     ([OwnerOfSigner]); the height at most the current block and its
//     epoch at least the current epoch − unbondingEpochs; each offence
//     ([OffenceKey]: signer, code, height, round) once. It takes
//     slashFractionBps (rounded down) of the stake and of each unbonding
//     entry, jails the position for good (no validator stake ever again),
//     pays the caller reporterShareBps of the take (rounded down) and
//     burns the rest (native.BurnSlash). A position left empty is removed
//     at once; otherwise the cut follows the snapshot rule. Membership is
//     judged on today's state, not the offence height's set.
//   - Compute slashing ([SlashCompute], compute_slash.go): the jobs module's
//     host API. It takes a basis-point fraction (the jobs module's
//     computeSlashBps, rounded down) of a compute position's stake and of
//     each unbonding entry as reportDoubleSign does, tells the rewards
//     module, forfeits unvested trade rewards, and pays the take to the
//     jobs module, which pays re-executors from it and burns the rest. It
//     does not jail here: compute jails live in the jobs module.
//
// All amounts are wei in uint256; nothing divides, so nothing rounds; sums
// that would pass 2^256-1 revert.
//
// Invariant: the module account's balance equals Σ totalStake(role) +
// totalUnbonding, which equal the sums over positions of amounts and
// unbonding entries (funds forced in by SELFDESTRUCT are the one exception:
// they raise the balance only). A slash lowers the totals by exactly what
// leaves the balance.
//
// Seams for later slices: the validator-set change reads
// [EffectiveValidators] from the boundary's parent state; every change of a
// position's amount or lock (stake, unstake, a slash) runs between
// beforeChange and afterChange (change.go), which report it to the rewards
// module (rewards.PositionChanged, with the unlock epoch); it weighs stake ×
// the lock's multiplier from the next epoch until the unlock epoch, 1× after,
// and reads signer owners and effective stakes through [RewardsView].
package staking
