// Package inventory turns what a compute node has and sells into its
// registry listing: [Summarize] reduces a GPU inventory (`emcd gpus --json`)
// to the registry's summary (count, model, memory per GPU, simulated, and
// the inventory's hash); [ParseOffer] reads the prices and image digests an
// operator configured; a [Listing] joins both and yields the registerNode /
// updateNode arguments ([Listing.Args]) and the record the registry would
// store ([Listing.Record]).
//
// The node's auto-registration (node/registrar) and `emcd node register`
// both use it, so a node registers exactly what the CLI would.
package inventory
