// Package results is a compute node's content-addressed store, normally
// DATADIR/compute/store: job input and output files as blobs named by their
// sha256, and result records named by their record hash. Anything read back
// can be verified against its name.
//
// Layout:
//
//	DIR/blobs/<sha256[:2]>/<sha256>   file contents
//	DIR/records/<record_sha256>.json  canonical JSON of a sealed job.Result
//	DIR/tmp/                          partial writes, renamed into place
//
// Every write is bounded (Config.MaxBlobBytes, Config.MaxTotalBytes) and
// Cleanup drops records past their retention, then the oldest while over the
// size limit, then blobs no record refers to. Start reading at Store.
//
// Subpackage fetch serves a store's results to the jobs' submitters over
// libp2p, through a router that checks them against the chain.
package results
