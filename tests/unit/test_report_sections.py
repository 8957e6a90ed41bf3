"""What each section computes, on hand-made rows with known answers; and that every section
still builds (with a note, never an exception) on results where nothing went right."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from collector.report.api import SECTIONS
from collector.report import html
from collector.report.data import FLEET_HOST_COLUMNS, FleetRun, ReportData, derive, rows_frame
from collector.report.model import Budgets, Note, Section, Table
from collector.report.sections import (accuracy, energy, latency, layertime, memory, overview, parameters, quality,
                                       recommend, strategy)
from shared.plan import stable_hash
from shared.schema import make_row

BASE: dict[str, Any] = {
    "run_id": "r1", "host": "h1", "device_class": "dev-a", "started_at": "2026-01-01T00:00:00+00:00",
    "agent_version": "0.1.0", "model": "m", "dataset": "d", "input_size": 32, "seed": 0, "schedule": "one_shot",
    "method": "l1_unstructured", "target_ratio": 0.0, "backend": "torch", "device": "cpu", "batch_size": 1,
    "status": "ok", "is_oom": False, "base_model_key": "b1", "threads": 2,
}


def row(**values: Any) -> dict[str, Any]:
    values = {**BASE, **values}
    values.setdefault("variant_key", stable_hash([values["host"], values["model"], values["method"],
                                                  values["target_ratio"]]))
    values.setdefault("trial_key", stable_hash(sorted(values.items())))
    return make_row(values)


def data(rows: list[dict[str, Any]]) -> ReportData:
    machines = pd.DataFrame({"host": ["h1", "h2"], "device_mem_gb": [4.0, 4.0]})
    return ReportData(Path("results"), derive(rows_frame(rows), machines), machines, pd.DataFrame(
        columns=["model", "method", "target_ratio", "variant_key", "layer", "kind", "params", "nonzero", "sparsity"]),
        None, Path("results/analysis.json"), "no analysis.json in results")


# (method, ratio, top-1, p50 ms at batch 1)
VARIANTS = (("l1_unstructured", 0.0, 0.90, 10.0), ("l1_unstructured", 0.5, 0.898, 10.1),
            ("structured", 0.5, 0.895, 6.0), ("structured", 0.7, 0.85, 4.0))


def variant_rows(host: str = "h1", scale: float = 1.0) -> list[dict[str, Any]]:
    return [row(host=host, method=m, target_ratio=r, accuracy_top1=a, latency_p50_ms=ms * scale)
            for m, r, a, ms in VARIANTS]


def test_the_fastest_variant_within_the_accuracy_budget_is_recommended() -> None:
    picked = recommend.recommendations(data(variant_rows()).ok, Budgets()).iloc[0]
    assert (picked["method"], picked["target_ratio"], picked["latency_p50_ms"]) == ("structured", 0.5, 6.0)
    assert picked["speedup"] == pytest.approx(10 / 6)
    assert picked["next_faster"].startswith("structured 0.7") and "loses 5.0 points" in picked["next_faster"]


def test_the_budgets_move_the_pick() -> None:
    ok = data(variant_rows()).ok
    assert recommend.recommendations(ok, Budgets(max_accuracy_drop=0.06)).iloc[0]["target_ratio"] == 0.7
    none = recommend.recommendations(ok, Budgets(max_latency_ms=3.0)).iloc[0]
    assert pd.isna(none["method"]) and none["next_faster"].startswith("nothing within the budgets")


def test_a_latency_within_the_noise_is_a_tie_won_by_accuracy() -> None:
    rows = [row(method="l1_unstructured", target_ratio=0.0, accuracy_top1=0.90, latency_p50_ms=10.0),
            row(method="l1_unstructured", target_ratio=0.5, accuracy_top1=0.895, latency_p50_ms=9.9)]
    picked = recommend.recommendations(data(rows).ok, Budgets()).iloc[0]
    assert picked["target_ratio"] == 0.0  # 1% faster is noise; the unpruned model keeps its accuracy


def test_latency_is_judged_at_the_budgets_batch_size() -> None:
    rows = variant_rows() + [row(method=m, target_ratio=r, accuracy_top1=a, batch_size=8, latency_p50_ms=ms)
                             for m, r, a, ms in (("l1_unstructured", 0.0, 0.90, 50.0), ("structured", 0.5, 0.895, 60.0),
                                                 ("l1_unstructured", 0.5, 0.898, 40.0))]
    picked = recommend.recommendations(data(rows).ok, Budgets(batch_size=8)).iloc[0]
    assert (picked["method"], picked["batch_size"]) == ("l1_unstructured", 8) and picked["target_ratio"] == 0.5


def test_largest_batch_before_oom() -> None:
    rows = [row(batch_size=1, latency_p50_ms=1.0), row(batch_size=8, latency_p50_ms=5.0),
            row(batch_size=32, status="oom", is_oom=True, error="MemoryError"),
            row(batch_size=64, status="skipped", error="after_oom"),
            row(method="structured", target_ratio=0.7, batch_size=32, latency_p50_ms=9.0)]
    found = recommend.largest_batches(data(rows).rows).iloc[0]
    assert (found["largest_batch_before_oom"], found["first_oom_batch"], found["largest_batch_ok"]) == (8, 32, 32)
    assert recommend.batch_grid(recommend.largest_batches(data(rows).rows)).iloc[0]["m"] == "8 (OOM at 32)"


def test_the_seed_comparison_is_made_host_by_host() -> None:
    def host_rows(host: str, scale: float) -> list[dict[str, Any]]:
        return [row(host=host, method=m, target_ratio=r, latency_p50_ms=ms * scale, macs=macs)
                for m, r, ms, macs in (("structured", 0.0, 10.0, 400), ("ln_structured_mask", 0.5, 10.0, 400),
                                       ("structured", 0.5, 5.0, 100))]
    frame = latency.comparison_frame(data(host_rows("h1", 1.0) + host_rows("h2", 3.0)).ok)
    assert len(frame) == 2
    assert (frame["speedup_pruned"] == 2.0).all() and (frame["original_ms"].sort_values().tolist() == [10.0, 30.0])
    assert (frame["mac_reduction"] == 4.0).all() and (frame["realised"] == 0.5).all()
    assert latency.speedup_grid(frame).iloc[0]["dev-a"] == 2.0


def test_the_seed_comparison_without_a_mask_variant_still_draws() -> None:
    rows = [row(method=m, target_ratio=r, latency_p50_ms=ms, macs=macs)
            for m, r, ms, macs in (("structured", 0.0, 10.0, 400), ("structured", 0.5, 5.0, 100))]
    section = latency.build(data(rows), Budgets())
    assert "latency-seed" in [f.name for f in section.figures]
    assert latency.comparison_frame(data(rows).ok)["speedup_mask"].isna().all()


def test_latency_relative_to_the_unpruned_model_in_the_same_setting() -> None:
    rows = [row(method="structured", target_ratio=0.0, latency_p50_ms=10.0, params_reported=100, params_nonzero=100),
            row(method="structured", target_ratio=0.5, latency_p50_ms=4.0, params_reported=25, params_nonzero=25),
            row(method="structured", target_ratio=0.0, latency_p50_ms=80.0, batch_size=8, params_reported=100,
                params_nonzero=100),
            row(method="structured", target_ratio=0.5, latency_p50_ms=40.0, batch_size=8, params_reported=25,
                params_nonzero=25)]
    table = latency.by_params_table(data(rows).ok)
    pruned = table[table["target_ratio"] == 0.5].iloc[0]
    assert pruned["params_left"] == 0.25 and pruned["latency_rel"] == pytest.approx((0.4 + 0.5) / 2)


def test_oom_share_leaves_the_skipped_batches_out() -> None:
    rows = [row(batch_size=32, status="oom", is_oom=True), row(batch_size=32, latency_p50_ms=1.0),
            row(batch_size=32, status="skipped", method="structured")]
    table = memory.oom_table(data(rows).rows).iloc[0]
    assert (table["trials"], table["oom"], table["skipped"]) == (3, 1, 1) and table["oom_share"] == 0.5
    assert table["models_oom"] == "m"


def test_memory_utilisation_is_against_the_device_or_the_cap() -> None:
    rows = [row(latency_p50_ms=1.0, peak_rss_mb=1024.0, device_mem_gb=4.0),
            row(latency_p50_ms=1.0, peak_rss_mb=1024.0, device_mem_gb=4.0, mem_limit_mb=2048.0, batch_size=8)]
    util = data(rows).ok["mem_util_pct"].tolist()
    assert util == [25.0, 50.0]


def test_parameters_pytorch_reports_against_what_is_left() -> None:
    rows = [row(target_ratio=0.0, params_reported=100, params_nonzero=100, params_actual=100),
            row(target_ratio=0.5, params_reported=100, params_nonzero=50, params_actual=100),
            row(method="structured", target_ratio=0.5, params_reported=25, params_nonzero=25, params_actual=25)]
    table = parameters.parameters_table(data(rows)).set_index(["method", "target_ratio"])
    assert table.loc[("l1_unstructured", 0.5), "overcount"] == 2.0
    assert table.loc[("structured", 0.5), "overcount"] == 1.0 and table.loc[("structured", 0.5), "params_base"] == 100


def test_per_layer_sparsity_counts_removed_weights_against_the_unpruned_layer() -> None:
    layers = pd.DataFrame([
        {"model": "m", "method": "l1_unstructured", "target_ratio": 0.0, "variant_key": "a", "layer": "conv",
         "kind": "Conv2d", "params": 100, "nonzero": 100, "sparsity": 0.0},
        {"model": "m", "method": "l1_unstructured", "target_ratio": 0.5, "variant_key": "b", "layer": "conv",
         "kind": "Conv2d", "params": 100, "nonzero": 40, "sparsity": 0.6},
        {"model": "m", "method": "structured", "target_ratio": 0.5, "variant_key": "c", "layer": "conv",
         "kind": "Conv2d", "params": 25, "nonzero": 25, "sparsity": 0.0}])
    assert parameters.reference_ratio(layers) == 0.5
    table = parameters.layers_table(layers, 0.5).iloc[0]
    assert (table["params_unpruned"], table["l1_unstructured"], table["structured"]) == (100, 0.6, 0.75)


def test_accuracy_by_ratio_is_one_row_a_model_and_method() -> None:
    grid = accuracy.by_ratio(accuracy.accuracy_table(data(variant_rows())))
    assert list(grid.columns) == ["model", "method", "top1_at_0", "top1_at_0.5", "top1_at_0.7"]
    assert grid.set_index("method").loc["structured", "top1_at_0.7"] == 0.85


def test_failures_are_grouped_by_the_last_line_of_the_error() -> None:
    rows = [row(status="crash", error="Traceback (most recent call last):\n  File x\nSegfault: boom"),
            row(status="crash", error="Traceback:\n  File y\nSegfault: boom", host="h2"),
            row(status="timeout", error="no result within 600 s")]
    table = quality.failures(data(rows).rows).set_index("status")
    assert table.loc["crash", "error"] == "Segfault: boom" and table.loc["crash", "trials"] == 2
    assert table.loc["crash", "hosts"] == 2


def test_missing_probes_say_why_and_where() -> None:
    rows = [row(probe_errors='{"perf": "not supported"}', latency_p50_ms=1.0),
            row(probe_errors='{"perf": "not supported"}', latency_p50_ms=1.0, host="h2")]
    table = quality.missing_probes(data(rows).rows).iloc[0]
    assert (table["probe"], table["reason"], table["hosts"], table["trials"]) == ("perf", "not supported", 2, 2)


def test_the_quality_section_counts_disturbed_and_re_measured_trials() -> None:
    rows = [row(latency_p50_ms=1.0, disturbed=False, attempt=1),
            row(latency_p50_ms=1.1, disturbed=False, attempt=2, retry_of="t0", batch_size=8),
            row(latency_p50_ms=1.2, disturbed=True, disturbed_reason="steal", attempt=2, retry_of="t1", batch_size=32),
            row(latency_p50_ms=1.3, disturbed=True, disturbed_reason="load", attempt=1, batch_size=64)]
    summary = " ".join(quality.build(data(rows), Budgets()).summary)
    assert ("3 of 4 judged trials were disturbed by the machine (other processes, steal, load, clock); "
            "re-measured: 2; still disturbed in their last row: 2") in summary
    assert quality.disturbed_text(data([row(latency_p50_ms=1.0)]).rows) is None  # rows before version 4


def _noted(section: Section) -> bool:
    return any(isinstance(b, Note) for b in section.blocks)


def test_every_section_builds_when_every_trial_failed() -> None:
    failed = data([row(status="oom", is_oom=True, batch_size=b) for b in (1, 8)])
    for module in SECTIONS:
        section = module.build(failed, Budgets())
        # energy, layer time, an adaptive sweep: no section where there is nothing of the kind
        assert (section is None and module in (energy, layertime, strategy)) or (section.id and section.title)
    assert _noted(latency.build(failed, Budgets())) and _noted(accuracy.build(failed, Budgets()))


def test_every_section_builds_from_a_single_trial() -> None:
    one = data([row(latency_p50_ms=1.0, accuracy_top1=0.9, latency_cv=0.01, params_reported=10, params_nonzero=10,
                    peak_rss_mb=100.0)])
    built = [module.build(one, Budgets()) for module in SECTIONS]
    assert [section.id for section in built if section is not None] == [
        "overview", "accuracy", "latency", "parameters", "memory", "causal", "recommendations", "quality"]


def test_energy_is_drawn_against_the_ratio_only_where_measured() -> None:
    rows = [row(target_ratio=r, latency_p50_ms=5.0, energy_j=e, energy_per_sample_mj=e * 10, energy_source="rapl:package",
                device_class="dev-x86") for r, e in ((0.0, 2.0), (0.5, 1.0))]
    rows += [row(host="h2", device_class="dev-pi", target_ratio=0.5, latency_p50_ms=9.0)]  # no sensor
    section = energy.build(data(rows), Budgets())
    assert section is not None and section.id == "energy" and section.figures[0].name == "energy-ratio"
    table = energy.energy_table(data(rows).ok)
    assert list(table["device_class"]) == ["dev-x86", "dev-x86"]
    assert list(table["energy_per_sample_mj"]) == [20.0, 10.0] and set(table["energy_source"]) == {"rapl:package"}
    assert energy.build(data([row(latency_p50_ms=1.0)]), Budgets()) is None


def test_too_many_device_classes_for_lines_give_a_grid() -> None:
    rows = [row(device_class=f"dev-{i:02d}", host=f"h{i}", batch_size=b, latency_p50_ms=float(b + i))
            for i in range(12) for b in (1, 8)]
    figure = latency.build(data(rows), Budgets()).figures[0]
    assert figure.name == "latency-batch" and "log10 ms" in figure.svg and "Cells: ms" in figure.caption


def with_fleet(report: ReportData, *hosts: tuple[str, str, int, int]) -> ReportData:
    """``report`` with a fleet.json of ``hosts``: (name, outcome, trials done, trials planned)."""
    frame = pd.DataFrame([(name, outcome, "" if outcome == "ok" else f"{outcome}: why", done, total, 0, 1, 2)
                          for name, outcome, done, total in hosts], columns=list(FLEET_HOST_COLUMNS))
    fleet = FleetRun(Path("results/fleet.json"), "fleet", "sweep.yml", "hosts.yml", "2026-01-01T00:00:00Z", 3700.0,
                     frame)
    return dataclasses.replace(report, fleet=fleet)


def _tables(section: Section) -> dict[str, Table]:
    return {t.name: t for t in section.tables}


def test_the_collector_outcome_lists_every_host_asked_worst_first() -> None:
    report = with_fleet(data([row(host="h1", latency_p50_ms=1.0), row(host="h2", latency_p50_ms=1.0)]),
                        ("h1", "ok", 1, 1), ("h2", "partial", 1, 4), ("h3", "unreachable", 0, 4),
                        ("h4", "auth-failed", 0, 4))
    section = overview.build(report, Budgets())
    assert section.summary[0] == "4 host(s) asked: 1 ok, 1 partial, 1 unreachable, 1 auth-failed."
    assert "took 1h 01m" in section.summary[1]
    table = _tables(section)["collector_hosts"]
    assert not table.collapsed
    frame = table.frame
    assert list(frame["host"]) == ["h4", "h3", "h2", "h1"]
    assert list(frame["rows_in_report"]) == [0, 0, 1, 1]
    assert list(frame["flag"]) == ["\u26a0 no rows", "\u26a0 no rows", "\u26a0", ""]
    assert frame.loc[frame["host"] == "h3", "reason"].item() == "unreachable: why"
    warning = next(b for b in section.blocks if isinstance(b, Note) and b.kind == "warn")
    assert "3 of 4 hosts asked did not end ok: h4 (auth-failed); h3 (unreachable); h2 (partial)." in warning.text
    assert "2 of them left no rows" in warning.text
    assert "hosts" in _tables(section)  # the hosts with rows, as before


def test_a_thousand_hosts_show_the_ones_not_ok_and_fold_the_rest() -> None:
    asked = [(f"h{i:04d}", "ok", 1, 1) for i in range(997)] + [("x1", "unreachable", 0, 1), ("x2", "partial", 0, 1),
                                                                 ("x3", "agent-error", 0, 1)]
    report = with_fleet(data([row(host="h0000", latency_p50_ms=1.0)]), *asked)
    section = overview.build(report, Budgets())
    assert section.summary[0] == "1000 host(s) asked: 997 ok, 1 partial, 1 agent-error, 1 unreachable."
    tables = _tables(section)
    not_ok = tables["collector_not_ok"]
    assert list(not_ok.frame["host"]) == ["x1", "x3", "x2"] and not not_ok.collapsed
    every = tables["collector_hosts"]
    assert every.collapsed and len(every.frame) == 1000 and every.max_rows < 1000  # the CSV has them all
    page = html.section_html(section, "report-tables")
    assert page.count("<tr>") < 150  # folded and capped: readable, not 1,000 rows


def test_without_fleet_json_the_overview_has_no_collector_table_and_a_broken_one_is_said() -> None:
    plain = data([row(latency_p50_ms=1.0)])
    section = overview.build(plain, Budgets())
    assert "collector_hosts" not in _tables(section) and not _noted(section)
    broken = dataclasses.replace(plain, fleet_problem="results/fleet.json could not be read: bad JSON")
    note = next(b for b in overview.build(broken, Budgets()).blocks if isinstance(b, Note))
    assert note.kind == "warn" and "bad JSON" in note.text and "a host that left none is not in them" in note.text


def test_hostile_host_names_are_escaped_on_the_page() -> None:
    hostile = ("<script>alert(1)</script>", "x; rm -rf ~", 'a"b`c\nd&e')
    report = with_fleet(data([row(host=hostile[0], latency_p50_ms=1.0)]),
                        *[(name, "unreachable", 0, 1) for name in hostile[1:]], (hostile[0], "ok", 1, 1))
    section = overview.build(report, Budgets())
    page = html.section_html(section, "report-tables")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "x; rm -rf ~" in page
    assert "a&quot;b`c\nd&amp;e" in page  # in the table as it is
    assert "a&quot;b&#x27;c d&amp;e (unreachable)" in page  # on one line in the note, no code span opened
    assert set(_tables(section)["collector_hosts"].frame["host"]) == set(hostile)  # the CSV keeps them as they are
