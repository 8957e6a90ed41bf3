"""Measurement quality: how steady each trial's timing was (latency CV), the trials flagged
noisy, the probes a device could not run and why, and why trials failed."""
from __future__ import annotations

import pandas as pd

from collector.report import plots, svg
from collector.report.cells import said
from collector.report.data import ReportData, probe_errors
from collector.report.findings import load_sentence, machine_load
from collector.report.model import Block, Budgets, Figure, Note, Section, Table

NOISY_CV = 0.10  # the sweep's default timing.noisy_cv; the noisy column holds each trial's own verdict
NOISIEST = 50


def noise_by_host(ok: pd.DataFrame) -> pd.DataFrame:
    grouped = ok.groupby("host")
    table = pd.DataFrame({
        "device_class": grouped["device_class"].first(), "trials": grouped["latency_cv"].count(),
        "cv_median": grouped["latency_cv"].median(), "cv_p95": grouped["latency_cv"].quantile(0.95),
        "cv_max": grouped["latency_cv"].max(), "noisy": grouped["noisy"].agg(lambda s: int(s.fillna(False).sum())),
    })
    table["noisy_share"] = table["noisy"] / table["trials"].clip(lower=1)
    return table.reset_index().sort_values("noisy_share", ascending=False)


def noisiest(ok: pd.DataFrame) -> pd.DataFrame:
    columns = ["host", "model", "method", "target_ratio", "backend", "batch_size", "latency_p50_ms", "latency_cv",
               "n_samples", "trial_key"]
    return ok.dropna(subset=["latency_cv"]).nlargest(NOISIEST, "latency_cv")[columns]


def missing_probes(rows: pd.DataFrame) -> pd.DataFrame:
    errors = probe_errors(rows)
    columns = ["probe", "reason", "hosts", "trials", "example_hosts"]
    if errors.empty:
        return pd.DataFrame(columns=columns)
    grouped = errors.groupby(["probe", "reason"])
    table = pd.DataFrame({"hosts": grouped["host"].nunique(), "trials": grouped["trials"].sum(),
                          "example_hosts": grouped["host"].agg(lambda s: ", ".join(sorted(set(s))[:3]))})
    return table.reset_index().sort_values(["probe", "trials"], ascending=[True, False])[columns]


def failures(rows: pd.DataFrame) -> pd.DataFrame:
    failed = rows[rows["status"] != "ok"].copy()
    columns = ["status", "error", "trials", "hosts", "example_host"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    # the last line (the exception) says what happened; the stack above it differs trial to trial
    failed["error"] = failed["error"].fillna("").astype(str).str.strip().str.split("\n").str[-1].str.slice(0, 120)
    grouped = failed.groupby(["status", "error"])
    table = pd.DataFrame({"trials": grouped.size(), "hosts": grouped["host"].nunique(),
                          "example_host": grouped["host"].first()})
    return table.reset_index().sort_values("trials", ascending=False)[columns]


def disturbed_text(rows: pd.DataFrame) -> str | None:
    """How many trials the machine disturbed (timing.disturbance), how many were measured again
    and how many are still disturbed in their last row; None where no trial was judged. A
    trial's last row says both: ``retry_of`` where an earlier one was disturbed."""
    remeasured, still = rows["retry_of"].notna(), rows["disturbed"].eq(True)
    judged = rows["disturbed"].notna() | remeasured
    if not judged.any():
        return None
    return (f"{int((still | remeasured).sum())} of {int(judged.sum())} judged trials were disturbed by the "
            f"machine (other processes, steal, load, clock); re-measured: {int(remeasured.sum())}; still "
            f"disturbed in their last row: {int(still.sum())} (disturbed_reason says by what).")


def _cv_figure(ok: pd.DataFrame) -> Figure:
    known = ok.dropna(subset=["latency_cv"])
    classes = sorted(known["device_class"].unique())
    fig, axes = svg.figure(height_in=1.0 + 0.4 * len(classes))
    ax = axes[0, 0]
    values = [known.loc[known["device_class"] == c, "latency_cv"].clip(lower=1e-4).to_numpy() * 100 for c in classes]
    ax.boxplot(values, orientation="horizontal", whis=(5, 95), showfliers=False, widths=0.6, patch_artist=True,
               boxprops={"facecolor": "#dadaeb", "edgecolor": "#6a51a3"}, medianprops={"color": "#3f007d"})
    noisy = [int(known.loc[known["device_class"] == c, "noisy"].fillna(False).astype(bool).sum()) for c in classes]
    ax.set_yticks(range(1, len(classes) + 1), [f"{c}  ({n} noisy)" for c, n in zip(classes, noisy)])
    ax.invert_yaxis()
    plots.log_x(ax)
    ax.axvline(NOISY_CV * 100, color="#d62728", ls="--", lw=1)
    ax.set_xlabel("latency CV (std / mean) of a trial's timed repetitions, %")
    return Figure("quality-cv", svg.to_svg(fig, "quality-cv"),
                  "How steady each trial's timing was, per device class: box 25th to 75th percentile, whiskers 5th "
                  "to 95th. Dashed: 10%, the default noise threshold; a trial above its sweep's threshold is "
                  "flagged noisy. Shared VMs and thermally throttled boards sit further right.")


def build(data: ReportData, budgets: Budgets) -> Section:
    title, intro = "Measurement quality", ("Whether the numbers above can be trusted: timing noise, probes that "
                                           "could not measure, and why trials failed.")
    rows, ok = data.rows, data.ok
    blocks: list[Block] = []
    if ok["latency_cv"].notna().any():
        blocks += [_cv_figure(ok),
                   Table("noise_by_host", "Timing noise per host", noise_by_host(ok), max_rows=100,
                         formats={"cv_median": ".2%", "cv_p95": ".2%", "cv_max": ".2%", "noisy_share": ".1%"}),
                   Table("noisiest_trials", "The noisiest trials", noisiest(ok),
                         f"Rerun these (delete their rows and run again) or give them more repetitions; the "
                         f"{NOISIEST} noisiest are in the CSV.", max_rows=10, formats={"latency_cv": ".2%"})]
    else:
        blocks.append(Note("No trial has a latency CV."))
    load = machine_load(data)
    if load["load_1m_max"].notna().any():
        blocks.append(Table("machine_load", "Machine load during the run", load,
                            "Per host, over its ok trials' timed regions: the 1-minute load average (highest "
                            "sampled in each trial: median and max over trials) against its cores, the CPU busy and "
                            "steal shares, and its trials flagged noisy. A load near the core count means other work "
                            "shared the machine.", max_rows=100,
                            formats={"load_1m_median": ".2f", "load_1m_max": ".2f", "cpu_busy_mean_pct": ".0f",
                                     "cpu_steal_mean_pct": ".1f"}))
    probes = missing_probes(rows)
    blocks.append(Table("missing_probes", "Missing probes and why", probes,
                        "A probe the device cannot run leaves its columns null and says why in probe_errors.")
                  if len(probes) else Note("Every probe measured on every host."))
    failed = failures(rows)
    blocks.append(Table("failures", "Trials that did not end ok", failed, "Grouped by status and the last line of "
                        "the error (the exception).") if len(failed) else Note("Every trial ended ok."))
    n_noisy = int(ok["noisy"].fillna(False).astype(bool).sum())
    summary = (f"{n_noisy} of {len(ok)} ok trials flagged noisy; median latency CV "
               f"{said(ok['latency_cv'].median(), '.1f', 100, '%')}." if len(ok) else "No ok trials.",)
    said_load = load_sentence(load)
    summary += (said_load,) if said_load else ()
    disturbed = disturbed_text(rows)
    if disturbed:
        summary += (disturbed,)
    if len(probes):
        summary += (f"Probes missing on some hosts: {', '.join(sorted(probes['probe'].unique()))}.",)
    return Section("quality", title, intro, tuple(blocks), summary)
