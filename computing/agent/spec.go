package agent

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/state/native"
)

// Executor kinds.
const (
	ExecutorDocker  = "docker"
	ExecutorProcess = "process"
)

// RunID is the runtime job id of one attempt of chain job id: it names the
// run's scratch dir, its container (label network.emc.job) or process
// (EMC_JOB_ID), and its result record. One attempt runs on one node only.
func RunID(chainID, id uint64, attempt uint8) string {
	return fmt.Sprintf("emc-%d-%d-%d", chainID, id, attempt)
}

// ReexecRunID is the runtime job id of this node's re-execution of chain
// job id (a node re-executes a job once).
func ReexecRunID(chainID, id uint64) string {
	return fmt.Sprintf("emc-%d-%d-reexec", chainID, id)
}

// ToRunSpec maps an on-chain spec to the executor's spec for one attempt:
// the Docker executor runs the image whose ID is the spec's digest
// (sha256:<hex>) with its own entrypoint; the process executor runs the
// program stored under the digest (see Programs).
func ToRunSpec(kind string, programs *Programs, chainID, id uint64, attempt uint8, s *jobs.Spec) (*job.Spec, error) {
	env := make(map[string]string, len(s.Env))
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if len(env) == 0 {
		env = nil
	}
	out := &job.Spec{
		ID:                RunID(chainID, id, attempt),
		Args:              append([]string(nil), s.Args...),
		Env:               env,
		GPUCount:          int(s.GPUs),
		MinGPUMemoryBytes: int64(s.MinMemoryMiB) << 20,
		TimeoutMillis:     int64(s.TimeoutSeconds) * 1000,
		MaxOutputBytes:    int64(s.OutputCapBytes),
	}
	switch kind {
	case ExecutorDocker:
		out.Image = "sha256:" + hex.EncodeToString(s.Image[:])
	case ExecutorProcess:
		if programs == nil {
			return nil, fmt.Errorf("agent: process executor without a program store")
		}
		out.Command = programs.Path(s.Image)
	default:
		return nil, fmt.Errorf("agent: executor %q: want docker or process", kind)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// KillProcesses kills, with SIGKILL to its process group, every process
// under procDir (/proc) whose environment holds EMC_JOB_ID=runID: the
// leftovers of a process-executor run whose node stopped. It returns how
// many it signalled.
func KillProcesses(procDir, runID string) (int, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return 0, fmt.Errorf("agent: list processes: %w", err)
	}
	want := []byte("EMC_JOB_ID=" + runID + "\x00")
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join(procDir, e.Name(), "environ"))
		if err != nil || !bytes.HasPrefix(env, want) && !bytes.Contains(env, append([]byte{0}, want...)) {
			continue
		}
		// The process executor starts each job in its own group.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		n++
	}
	return n, nil
}

// SpecFromLogs finds job id's JobSubmitted log among logs (the receipts of
// its submission block) and returns its spec, checked against specHash
// (the chain record's). Logs come from the chain; the bytes are still
// decoded with the spec's own checks.
func SpecFromLogs(jobsABI *abi.ABI, logs []*types.Log, id uint64, specHash common.Hash) (jobs.Spec, error) {
	ev, ok := jobsABI.Events["JobSubmitted"]
	if !ok {
		return jobs.Spec{}, fmt.Errorf("agent: jobs ABI has no JobSubmitted event")
	}
	idTopic := common.BigToHash(new(big.Int).SetUint64(id))
	for _, l := range logs {
		if l.Address != native.JobsAddress || len(l.Topics) != 3 || l.Topics[0] != ev.ID || l.Topics[1] != idTopic {
			continue
		}
		vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
		if err != nil || len(vals) < 2 {
			return jobs.Spec{}, fmt.Errorf("agent: job %d: JobSubmitted log does not decode: %v", id, err)
		}
		raw, ok := vals[1].([]byte)
		if !ok {
			return jobs.Spec{}, fmt.Errorf("agent: job %d: JobSubmitted spec of type %T", id, vals[1])
		}
		if crypto.Keccak256Hash(raw) != specHash {
			return jobs.Spec{}, fmt.Errorf("agent: job %d: logged spec does not match the record's hash", id)
		}
		return jobs.DecodeSpec(raw)
	}
	return jobs.Spec{}, fmt.Errorf("agent: job %d: no JobSubmitted log", id)
}

// InputsFromTxs returns job id's input bundle: the inputs argument of the
// transaction that submitted it, found through its JobSubmitted log among
// logs and looked up among txs (both of its submission block). The
// transaction must call the jobs module directly (its mutating methods
// run only so) with submitJobInputs or submitJobCreditsInputs and a spec
// whose keccak256 is specHash. The bundle is returned as the transaction
// holds it: check it against the spec with jobs.DecodeInputsFor.
func InputsFromTxs(jobsABI *abi.ABI, logs []*types.Log, txs types.Transactions, id uint64, specHash common.Hash) ([]byte, error) {
	ev, ok := jobsABI.Events["JobSubmitted"]
	if !ok {
		return nil, fmt.Errorf("agent: jobs ABI has no JobSubmitted event")
	}
	idTopic := common.BigToHash(new(big.Int).SetUint64(id))
	var txHash common.Hash
	found := false
	for _, l := range logs {
		if l.Address == native.JobsAddress && len(l.Topics) == 3 && l.Topics[0] == ev.ID && l.Topics[1] == idTopic {
			txHash, found = l.TxHash, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("agent: job %d: no JobSubmitted log", id)
	}
	var tx *types.Transaction
	for _, t := range txs {
		if t.Hash() == txHash {
			tx = t
			break
		}
	}
	if tx == nil {
		return nil, fmt.Errorf("agent: job %d: submit transaction %s not in its block", id, txHash.Hex())
	}
	if tx.To() == nil || *tx.To() != native.JobsAddress {
		return nil, fmt.Errorf("agent: job %d: submit transaction %s does not call the jobs module", id, txHash.Hex())
	}
	data := tx.Data()
	if len(data) < 4 {
		return nil, fmt.Errorf("agent: job %d: submit transaction %s has no method", id, txHash.Hex())
	}
	m, err := jobsABI.MethodById(data[:4])
	if err != nil {
		return nil, fmt.Errorf("agent: job %d: submit transaction %s: %w", id, txHash.Hex(), err)
	}
	last := 0
	switch m.Name {
	case "submitJobInputs":
		last = 2
	case "submitJobCreditsInputs":
		last = 3
	default:
		return nil, fmt.Errorf("agent: job %d: submitted with %s, which carries no inputs", id, m.Name)
	}
	vals, err := m.Inputs.Unpack(data[4:])
	if err != nil || len(vals) != last+1 {
		return nil, fmt.Errorf("agent: job %d: %s calldata does not decode: %v", id, m.Name, err)
	}
	spec, ok1 := vals[0].([]byte)
	inputs, ok2 := vals[last].([]byte)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("agent: job %d: %s arguments of types %T, %T", id, m.Name, vals[0], vals[last])
	}
	if crypto.Keccak256Hash(spec) != specHash {
		return nil, fmt.Errorf("agent: job %d: the submit transaction's spec does not match the record's hash", id)
	}
	return inputs, nil
}
