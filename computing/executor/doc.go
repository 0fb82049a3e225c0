// Package executor runs a job.Spec and returns its job.Result.
//
// Two implementations share one Executor interface and one conformance
// suite (conformance_test.go):
//
//   - Docker runs the job in a container through the Docker Engine API: no
//     network, CPU, memory (swap equal to memory) and pids limits, a read-only
//     root with a small /tmp tmpfs, an unprivileged uid:gid, all capabilities
//     dropped, no host mounts but the job's scratch dir (inputs read-only at
//     /job/in, outputs at /job/out), GPUs passed by UUID. Images must be
//     present or loaded from a tarball (LoadImage); nothing is pulled.
//   - Process runs the command as a child process, for development and
//     tests only. It promises no isolation: no network, memory or CPU limits.
//
// Both stage inputs from a content-addressed store, kill the job (the
// container, or the whole process group) on timeout, cancel or when its
// outputs grow past the limit, keep only the tails of stdout and stderr, and
// hash every output file into the store. GPUs come from a gpu.Allocator,
// exclusively, by UUID; a job asking for more than the node has is refused
// before anything starts.
//
// Start reading at Executor, then run.go (the shared steps), then docker.go.
package executor
