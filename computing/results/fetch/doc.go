// Package fetch delivers a job's results to its submitter: the record and
// the output files a compute node keeps in its store (computing/results),
// relayed by a router, checked against the chain at every hop.
//
// Three parties, one signed request:
//
//   - The submitter signs (chain id, job id, path, expiry) with the key that
//     submitted the job ([Sign], [Digest]); path is an output's path, or
//     [RecordPath] ("") for the record. Each path needs its own signature;
//     expiry is at most [MaxValidity] ahead.
//   - A router ([Relay]) takes the signature over HTTP (GET
//     /results/{id}/record, /results/{id}/files/{path...}) or JSON-RPC
//     (emc_getResult, small files), checks it as the node will ([Authorize]:
//     fresh, the on-chain submitter's, a job with a result), finds the node
//     that ran the job in the registry by its owner account, and pulls the
//     file from it in chunks over the libp2p protocol below. It checks the
//     record against the record hash on chain and the file against the
//     record, and passes bytes on one chunk behind the node: the last chunk
//     only once the whole file matched, so a client never receives a
//     complete file that did not. On a mismatch the HTTP body is cut short.
//   - The compute node ([Server]) answers only for jobs it ran (the job's
//     node is its owner account), only to the submitter's fresh signature,
//     rate-limited per peer. A refusal is an answer with a [Code], so the
//     router can say why.
//
// Wire protocol (Spec: /emcd/<chain>/results/1, one request and one
// response per stream, both RLP): [Request] (job id, path, offset, auth) of
// at most [MaxRequest] bytes; [Response] (code, message, file size, the
// record's hash for the file, up to [MaxChunk] bytes from the offset, and
// on a file's first chunk the record itself) of at most [MaxResponse]. Each
// chunk's exchange is bounded by the spec's timeout; a node slower than
// that is unreachable.
//
// Router probes (docs/verification.md, "Router probes"): a validator
// checks that a router relays by fetching a record through it with the
// probe form of the signature ([SignProbe], [ProbeDigest]: chain id,
// epoch, job id, expiry; Auth.Probe and Auth.Epoch on the wire, the probe
// query parameter or the Emc-Probe-Epoch header over HTTP). The relay and
// the node accept it, when configured with [Probers], for the record only
// ([RecordPath]; a record is public by its hash on chain already), of any
// job with a result, from a validator signer of the current epoch, fresh
// as any request ([AuthorizeWith]); otherwise [CodeNotProber]. Validators
// reach a router by its peer id (the registry lists no URL), so the relay
// also serves the probe protocol ([ProbeSpec], [Relay.RegisterProbe],
// probe.go): one probe request, the whole record back, which the prober
// checks against the chain ([ProbeRecord]).
//
// What a signature allows: anyone who sees it (the router, for one) may
// fetch that one path of that one job until it expires, which is what the
// submitter asked for. It cannot be used for another job, path or chain.
//
// [Client] and [Download] are the submitter's side (`emcd job result`):
// they trust neither router nor node and check every hash again.
//
// Start reading at [Relay.Copy], then [Server], then request.go.
package fetch
