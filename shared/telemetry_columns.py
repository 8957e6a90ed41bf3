"""Telemetry columns of the result row: trial isolation, memory caps, probes, fingerprint.

Every probe column is null where the device cannot measure it; the reason is in
``probe_errors`` (a JSON object probe -> reason).
"""
from __future__ import annotations

from shared.columns import Column, _c

TELEMETRY_COLUMNS: tuple[Column, ...] = (
    _c("device_mem_gb", float, "memory capacity of the device the trial ran on: GPU memory, else RAM, GiB"),
    _c("mem_limit_mb", float, "memory cap of the trial's worker (--mem-limit), MiB; null: no cap"),
    _c("mem_cap_method", str, "how the cap was enforced: cgroup-v1, cgroup-v2 or rlimit-as"),
    # a device profile (shared/profile.py, agent/emulate.py): this machine constrained into another
    _c("emulated", bool, "measured under a device profile on a bigger machine, not on the device itself"),
    _c("emulation_profile", str, "the device profile as JSON (name, cpus, cpu_quota, memory bytes, threads)"),
    _c("emulation_missing", str, "JSON object: profile constraint -> why this host could not apply it"),
    _c("probe_errors", str, "JSON object: probe -> why its columns are null"),
) + (
    # perf stat over the timed region only (agent/probes/perf.py); hardware events are null
    # on a VM without counters. Scaled counts where perf had to multiplex.
    _c("perf_instructions", float, "instructions retired in the timed region (perf)"),
    _c("perf_cycles", float, "CPU cycles in the timed region (perf)"),
    _c("perf_cache_references", float, "last-level cache references in the timed region (perf)"),
    _c("perf_cache_misses", float, "last-level cache misses in the timed region (perf)"),
    _c("perf_branches", float, "branch instructions in the timed region (perf)"),
    _c("perf_branch_misses", float, "mispredicted branches in the timed region (perf)"),
    _c("perf_task_clock_ms", float, "CPU time of the worker's threads in the timed region, ms (perf)"),
    _c("perf_context_switches", float, "context switches in the timed region (perf)"),
    _c("perf_cpu_migrations", float, "moves of the worker's threads between CPUs in the timed region (perf)"),
    _c("perf_page_faults", float, "page faults in the timed region (perf)"),
) + (
    # NVML sampler (agent/probes/nvml.py): the whole device, every process on it
    _c("gpu_util_mean_pct", float, "mean GPU utilisation (time a kernel ran) over the samples, %"),
    _c("gpu_util_max_pct", float, "highest GPU utilisation sample, %"),
    _c("gpu_mem_util_mean_pct", float, "mean GPU memory-bus utilisation over the samples, %"),
    _c("gpu_mem_peak_mb", float, "highest GPU memory used (device-wide, NVML), MiB"),
    _c("gpu_power_mean_w", float, "mean GPU board power over the samples, W"),
    _c("gpu_power_max_w", float, "highest GPU board power sample, W"),
    _c("gpu_energy_j", float, "GPU energy over the region, J: NVML energy-counter delta, else power integrated"),
    _c("gpu_sm_clock_mean_mhz", float, "mean SM clock over the samples, MHz"),
    _c("gpu_temp_max_c", float, "highest GPU temperature sample, degrees C"),
    _c("gpu_throttle_reasons", str, "comma-separated clock-event (throttle) reasons seen, or 'none'"),
    _c("gpu_sample_count", int, "NVML samples taken in the region"),
) + (
    # tegrastats sampler (agent/probes/tegrastats.py): Jetson boards, CPU and GPU trials alike
    _c("tegra_gpu_load_mean_pct", float, "mean integrated-GPU (GR3D) load over the tegrastats samples, %"),
    _c("tegra_gpu_load_max_pct", float, "highest integrated-GPU (GR3D) load sample, %"),
    _c("tegra_gpu_freq_mean_mhz", float, "mean GR3D clock over the samples, MHz"),
    _c("tegra_cpu_load_mean_pct", float, "mean load of the online CPU cores over the samples, %"),
    _c("tegra_cpu_freq_mean_mhz", float, "mean clock of the online CPU cores over the samples, MHz"),
    _c("tegra_emc_load_mean_pct", float, "mean memory-controller (EMC) load over the samples, %"),
    _c("tegra_emc_freq_mean_mhz", float, "mean EMC clock over the samples, MHz"),
    _c("tegra_ram_used_max_mb", float, "highest RAM used (CPU and GPU share it), MiB"),
    _c("tegra_swap_used_max_mb", float, "highest swap used, MiB"),
    _c("tegra_temp_max_c", float, "highest temperature of any real sensor sampled (PMIC's fixed 100 C left out), degrees C"),
    _c("tegra_temps_max_c", str, "JSON object: sensor -> highest temperature sampled, degrees C"),
    _c("tegra_rails_mean_mw", str, "JSON object: power rail -> mean current power over the samples, mW"),
    _c("tegra_power_mean_w", float, "mean board power (input rail, else the sum of the rails), W"),
    _c("tegra_power_source", str, "the rail(s) tegra_power_mean_w comes from: VDD_IN, POM_5V_IN or sum:A+B+..."),
    _c("tegra_energy_j", float, "board energy over the region from the tegrastats power samples, J"),
    _c("tegra_sample_count", int, "tegrastats lines parsed in the region"),
) + (
    # RAPL energy counters (agent/probes/rapl.py): x86, summed over packages
    _c("rapl_package_j", float, "CPU package energy over the region (RAPL), J"),
    _c("rapl_core_j", float, "CPU cores energy over the region (RAPL), J"),
    _c("rapl_dram_j", float, "DRAM energy over the region (RAPL, where the CPU has the domain), J"),
) + (
    # energy per inference (agent/probes/energy.py): the best sensor of the device
    _c("energy_j", float, "energy of the device over the timed region, J (idle power included)"),
    _c("energy_per_sample_mj", float, "energy_j / (n_samples x batch_size), mJ"),
    _c("energy_source", str, "what energy_j comes from: tegrastats:<rail>, nvml:gpu, rapl:package[+dram]"),
) + (
    # kernel-level profile (agent/probes/gpuprofile.py)
    _c("gpu_kernel_time_ms", float, "summed duration of the GPU kernels of the region, ms"),
    _c("gpu_kernel_count", int, "GPU kernels run in the region"),
    _c("gpu_memcpy_time_ms", float, "summed duration of GPU memory copies and sets in the region, ms"),
    _c("gpu_memcpy_count", int, "GPU memory copies and sets in the region"),
    _c("gpu_profiler", str, "what measured the kernel columns: torch_profiler, nvprof, nsys or ncu"),
) + (
    # system sampler (agent/probes/system.py): counters as deltas over the region
    _c("sys_cpu_mean_pct", float, "busy share of all CPUs over the region (from CPU-time deltas), %"),
    _c("sys_cpu_core_max_pct", float, "busy share of the busiest CPU over the region, %"),
    _c("sys_cpu_steal_pct", float, "share of CPU time stolen by the hypervisor over the region, %"),
    _c("sys_cpu_freq_mean_mhz", float, "mean current CPU frequency over the samples, MHz"),
    _c("sys_cpu_freq_drop_pct", float, "largest fall of the CPU frequency from one sample to a later one in the region, %"),
    _c("sys_other_cpu_pct", float, "busy share of the worker's cores spent on other processes over the region, %"),
    _c("sys_load_1m_max", float, "highest 1-minute load average sampled"),
    _c("sys_psi_cpu_some_avg10", float, "highest PSI cpu 'some' avg10 sampled, %"),
    _c("sys_psi_cpu_some_total_us", float, "PSI cpu 'some' stall time over the region (total delta), us"),
    _c("sys_psi_memory_some_avg10", float, "highest PSI memory 'some' avg10 sampled, %"),
    _c("sys_psi_memory_some_total_us", float, "PSI memory 'some' stall time over the region (total delta), us"),
    _c("sys_psi_memory_full_avg10", float, "highest PSI memory 'full' avg10 sampled, %"),
    _c("sys_psi_memory_full_total_us", float, "PSI memory 'full' stall time over the region (total delta), us"),
    _c("sys_psi_io_some_avg10", float, "highest PSI io 'some' avg10 sampled, %"),
    _c("sys_psi_io_some_total_us", float, "PSI io 'some' stall time over the region (total delta), us"),
    _c("sys_psi_io_full_avg10", float, "highest PSI io 'full' avg10 sampled, %"),
    _c("sys_psi_io_full_total_us", float, "PSI io 'full' stall time over the region (total delta), us"),
    _c("sys_mem_used_max_mb", float, "highest system memory used sampled, MiB"),
    _c("sys_mem_available_min_mb", float, "lowest system memory available sampled, MiB"),
    _c("sys_swap_used_max_mb", float, "highest swap used sampled, MiB"),
    _c("sys_swap_in_mb", float, "swapped in over the region, MiB"),
    _c("sys_swap_out_mb", float, "swapped out over the region, MiB"),
    _c("sys_disk_read_mb", float, "read from all disks over the region, MiB"),
    _c("sys_disk_write_mb", float, "written to all disks over the region, MiB"),
    _c("sys_disk_read_ops", int, "disk reads over the region"),
    _c("sys_disk_write_ops", int, "disk writes over the region"),
    _c("sys_temp_max_c", float, "highest temperature of any readable sensor sampled, degrees C"),
    _c("sys_sample_count", int, "system samples taken in the region (start and stop included)"),
)
