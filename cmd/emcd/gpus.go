package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/telemetry"
)

func init() { extraCommands = append(extraCommands, newGPUsCmd) }

// gpuFlags choose the GPU provider; compute exec shares them.
type gpuFlags struct {
	mode      string
	simulated int
}

func (gf *gpuFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&gf.mode, "gpu.mode", string(gpu.ModeAuto), "GPU provider: auto (NVML when the driver is present), nvml, simulated or none")
	cmd.Flags().IntVar(&gf.simulated, "gpu.simulated", 0, "with --gpu.mode simulated: number of simulated H100 80GB GPUs")
}

func (gf *gpuFlags) open(g *globals, stderr io.Writer) (gpu.Provider, error) {
	log, err := g.logger(stderr)
	if err != nil {
		return nil, err
	}
	cfg := gpu.Config{Mode: gpu.Mode(gf.mode), Logger: log}
	if cfg.Mode == gpu.ModeSimulated {
		cfg.Simulated = gpu.SimulatedH100s(gf.simulated)
	} else if gf.simulated != 0 {
		return nil, fmt.Errorf("--gpu.simulated needs --gpu.mode simulated")
	}
	return gpu.Open(cfg)
}

func newGPUsCmd(g *globals) *cobra.Command {
	var asJSON bool
	gf := &gpuFlags{}
	cmd := &cobra.Command{
		Use:   "gpus",
		Short: "Print this host's GPU inventory and one telemetry sample",
		Long: `gpus prints what a compute node would register: each GPU's index, UUID,
model, memory, compute capability, PCI bus id, power limit and MIG layout,
the driver and CUDA driver versions, and one telemetry sample (GPU
utilisation, memory, temperature, power, processes; host CPU and memory).

On a host without the NVIDIA driver it prints zero GPUs and the reason, and
exits 0. Simulated GPUs (--gpu.mode simulated) are marked simulated.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := gf.open(g, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer p.Close()
			s := telemetry.NewSampler(p, time.Second, nil, telemetry.ProcHost{FS: os.DirFS("/proc")}, nil)
			r, err := telemetry.NewReport(c.Context(), p, s)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printReport(out, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (field names carry units)")
	gf.register(cmd)
	return cmd
}

func printReport(w io.Writer, r *telemetry.Report) {
	inv := r.Inventory
	fmt.Fprintf(w, "GPUs: %d (source %s)", len(inv.Devices), inv.Source)
	if inv.Simulated {
		fmt.Fprint(w, " SIMULATED")
	}
	if inv.DriverVersion != "" {
		fmt.Fprintf(w, ", driver %s, CUDA %s", inv.DriverVersion, inv.CUDADriverVersion)
	}
	fmt.Fprintln(w)
	if inv.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", inv.Reason)
	}
	if len(inv.Devices) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IDX\tUUID\tNAME\tMEMORY\tCC\tPCI\tPOWER LIMIT\tMIG\tUTIL\tMEM USED\tTEMP\tPOWER\tPROCS")
		samples := map[string]gpu.Sample{}
		for _, s := range r.Telemetry.GPUs {
			samples[s.UUID] = s
		}
		for _, d := range inv.Devices {
			s := samples[d.UUID]
			mig := "-"
			if d.MIGEnabled != nil {
				mig = "off"
				if *d.MIGEnabled {
					mig = fmt.Sprintf("%d inst", len(d.MIGDevices))
				}
			}
			name := d.Name
			if d.Simulated {
				name += " (simulated)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Index, d.UUID, name,
				opt(d.MemoryTotalBytes, gib), opt(d.ComputeCapability, str), opt(d.PCIBusID, str),
				opt(d.PowerLimitMilliwatts, watts), mig,
				opt(s.UtilizationPercent, func(v uint32) string { return fmt.Sprintf("%d%%", v) }),
				opt(s.MemoryUsedBytes, gib),
				opt(s.TemperatureCelsius, func(v uint32) string { return fmt.Sprintf("%dC", v) }),
				opt(s.PowerUsageMilliwatts, watts),
				opt(s.Processes, func(v int) string { return fmt.Sprint(v) }))
			for _, m := range d.MIGDevices {
				fmt.Fprintf(tw, "  %d.%d\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\n", d.Index, m.Index, m.UUID, m.Name, opt(m.MemoryTotalBytes, gib))
			}
		}
		tw.Flush()
	}
	if h := r.Telemetry.Host; h != nil {
		cpu := "n/a"
		if h.CPUUtilizationPercent != nil {
			cpu = fmt.Sprintf("%.0f%%", *h.CPUUtilizationPercent)
		}
		fmt.Fprintf(w, "host: %d CPUs, load1 %.2f, CPU %s, memory %s used of %s\n",
			h.CPUCount, h.Load1, cpu, gib(h.MemoryUsedBytes), gib(h.MemoryTotalBytes))
	}
}

func opt[T any](p *T, f func(T) string) string {
	if p == nil {
		return "n/a"
	}
	return f(*p)
}

func str(s string) string    { return strings.TrimSpace(s) }
func gib(b uint64) string    { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
func watts(mw uint32) string { return fmt.Sprintf("%.0f W", float64(mw)/1000) }
