"""The report reads one device's folder or a fleet's through shared.resultsdir, and derives the
columns its sections share the same way for both."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from collector.analysis.output import dump_analysis
from collector.report.data import load_report_data, probe_errors
from shared.errors import UserError
from tests.synthetic.fleet_folder import PLATFORMS, synthetic_analysis, write_fleet

MODELS, METHODS = ("lenet5", "resnet18"), ("l1_unstructured", "structured")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # six hosts: three with a GPU, then a CPU-only VM and a board without perf
    return write_fleet(tmp_path_factory.mktemp("fleet"), hosts=6, trials_per_host=80, models=MODELS, methods=METHODS)


def test_a_fleet_folder_gives_every_hosts_rows_and_fingerprint(fleet: Path) -> None:
    data = load_report_data(fleet)
    assert len(data.rows) == 480 and data.rows["host"].nunique() == 6
    assert sorted(data.machines["host"]) == sorted(p.name for p in fleet.iterdir())
    assert set(data.machines["device_class"]) == {p.device_class for p in PLATFORMS[:6]}
    assert data.analysis is None and "no analysis.json" in data.analysis_problem


def test_one_device_folder_is_read_the_same_way(fleet: Path, tmp_path: Path) -> None:
    host = sorted(fleet.iterdir())[0]
    shutil.copytree(host, tmp_path / "one")
    data = load_report_data(tmp_path / "one")
    assert len(data.rows) == 80 and list(data.machines["host"]) == [host.name]


def test_layers_are_kept_once_a_variant_though_every_host_measured_it(fleet: Path) -> None:
    data = load_report_data(fleet)
    layers = data.layers
    assert not layers.duplicated(["variant_key", "layer"]).any()
    assert set(layers["variant_key"]) == set(data.rows["variant_key"])


def test_derived_columns(fleet: Path) -> None:
    rows = load_report_data(fleet).rows
    unpruned = rows[rows["target_ratio"] == 0].drop_duplicates(["host", "variant_key"])
    # against the mean of the host's unpruned variants (one a method)
    assert (unpruned.groupby(["host", "model"])["accuracy_drop"].sum().abs() < 1e-12).all()
    assert (rows["accuracy_drop"] == rows["accuracy_unpruned"] - rows["accuracy_top1"]).all()
    ok = rows[rows["status"] == "ok"]
    on_gpu = ok[ok["device"] == "cuda:0"]
    assert (on_gpu["peak_mem_mb"] == on_gpu["peak_gpu_mem_mb"]).all()
    expected = 100 * ok["peak_mem_mb"] / (ok["device_mem_gb"] * 1024)
    assert (ok["mem_util_pct"] - expected).abs().max() < 1e-9


def test_device_memory_comes_from_machine_json_for_rows_without_it(fleet: Path, tmp_path: Path) -> None:
    host = sorted(fleet.iterdir())[0]
    folder = shutil.copytree(host, tmp_path / "old")
    lines = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    (folder / "results.jsonl").write_text("".join(json.dumps({**r, "device_mem_gb": None}) + "\n" for r in lines))
    rows = load_report_data(folder).rows
    assert rows.loc[rows["status"] == "ok", "mem_util_pct"].notna().all()


def test_probe_errors_are_parsed_once_a_distinct_text(fleet: Path) -> None:
    errors = probe_errors(load_report_data(fleet).rows)
    assert set(errors.loc[errors["host"] == "amd-epyc-01", "probe"]) == {"nvml", "gpuprofile", "perf"}
    assert set(errors.loc[errors["host"] == "raspberry-pi-01", "reason"]) >= {"perf is not installed"}
    assert (errors.groupby(["host", "probe"])["trials"].sum() == 80).all()


def test_an_analysis_beside_the_results_is_loaded_and_a_broken_one_is_said(fleet: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(fleet, tmp_path / "with")
    dump_analysis(synthetic_analysis(["x"], 480), folder)
    assert load_report_data(folder).analysis is not None
    (folder / "analysis.json").write_text("{not json")
    data = load_report_data(folder)
    assert data.analysis is None and "not JSON" in data.analysis_problem


def test_a_folder_without_results_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no results.jsonl"):
        load_report_data(tmp_path)


def test_fleet_json_gives_every_host_asked_those_without_a_folder_included(tmp_path: Path) -> None:
    folder = write_fleet(tmp_path / "fleet", hosts=4, trials_per_host=40, models=MODELS[:1], methods=METHODS[:1],
                         fleet_file=True)
    data = load_report_data(folder)
    assert data.fleet is not None and data.fleet_problem == "" and data.fleet.run_name == "fleet"
    hosts = data.fleet.hosts.set_index("host")
    assert len(hosts) == 6 and data.rows["host"].nunique() == 4  # unreachable, auth-failed: no folder, no row
    assert hosts.loc["edge-gw-17", "outcome"] == "unreachable" and hosts.loc["edge-gw-17", "trials_done"] == 0
    partial = hosts[hosts["outcome"] == "partial"].iloc[0]
    assert (partial["trials_done"], partial["trials_total"]) == (20, 40)
    assert (data.rows["host"] == partial.name).sum() == 20


def test_without_fleet_json_there_is_no_fleet_and_no_complaint(fleet: Path) -> None:
    data = load_report_data(fleet)  # one device's folder, or a fleet folder from before fleet.json
    assert data.fleet is None and data.fleet_problem == ""


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "could not be read"),
    ('{"hosts": {"a": 1}}', "no list of hosts"),
    ('{"hosts": [{"outcome": "ok"}]}', "a host without a name"),
    ('["hosts"]', "no list of hosts"),
])
def test_an_unreadable_fleet_json_is_said_not_raised(fleet: Path, tmp_path: Path, content: str, problem: str) -> None:
    folder = shutil.copytree(fleet, tmp_path / "broken")
    (folder / "fleet.json").write_text(content)
    data = load_report_data(folder)
    assert data.fleet is None and problem in data.fleet_problem and len(data.rows) == 480


def test_odd_values_in_fleet_json_are_missing_not_fatal(fleet: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(fleet, tmp_path / "odd")
    (folder / "fleet.json").write_text(json.dumps({"hosts": [
        {"name": 7, "outcome": None, "trials_done": "lots", "trials_total": -1, "restarts": True}]}))
    host = load_report_data(folder).fleet.hosts.iloc[0]  # type: ignore[union-attr]
    assert (host["host"], host["outcome"]) == ("7", "partial")  # no outcome: stopped part way, as collector run says
    assert host[["trials_done", "trials_total", "restarts", "reconnects"]].isna().all()
