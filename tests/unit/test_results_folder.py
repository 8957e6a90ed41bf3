"""ResultsFolder: the one owner of a results folder's file names, and its reads and writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.resultsdir import ResultsFolder, device_folders
from tests.unit.test_schema import MINIMAL


def _file_names() -> dict[str, str]:
    """Every file name the class spells: its upper-case string attributes."""
    return {name: value for name, value in vars(ResultsFolder).items()
            if name.isupper() and isinstance(value, str)}


def test_every_file_has_one_fate_at_the_collector() -> None:
    """A name added without saying whether the collector streams, fetches or leaves it fails here."""
    groups = (ResultsFolder.STREAMED, ResultsFolder.FETCHED_AT_END, ResultsFolder.NOT_FETCHED,
              ResultsFolder.COLLECTOR_FILES, ResultsFolder.FLEET_FILES)
    for attribute, name in _file_names().items():
        homes = [group for group in groups if name in group]
        assert homes, f"ResultsFolder.{attribute} ({name}) is in none of the groups"
        # results.jsonl is also a fleet file name: a host may not be called that
        assert len(homes) == 1 or name == ResultsFolder.RESULTS, f"{name} is in {len(homes)} groups"
    assert len(set(_file_names().values())) == len(_file_names()), "two attributes name one file"


def test_an_agent_run_opens_resumes_and_records(tmp_path: Path) -> None:
    folder = ResultsFolder(tmp_path / "out")
    run_id = folder.open("quick", {"host": "h", "device_class": "x"})
    assert folder.read_machine() == {"host": "h", "device_class": "x"}
    folder.record_run(overhead={"timed": 1.0})
    again = ResultsFolder(tmp_path / "out")
    assert again.open("quick", {"host": "h2"}) == run_id  # a resume keeps the run id
    assert again.read_run()["overhead"] == {"timed": 1.0} and again.read_machine() == {"host": "h2"}
    assert sorted(p.name for p in folder.root.iterdir()) == [".lock", ResultsFolder.MACHINE, ResultsFolder.RUN]


def test_side_records_round_trip_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    folder = ResultsFolder(tmp_path)
    folder.append(ResultsFolder.LAYERS, {"variant_key": "a"})
    with folder.path(ResultsFolder.LAYERS).open("ab") as f:
        f.write(b'{"variant_key": "b"}')  # no newline: a writer killed mid-line
    assert folder.records(ResultsFolder.LAYERS) == [{"variant_key": "a"}]
    ResultsFolder(tmp_path).append(ResultsFolder.LAYERS, {"variant_key": "c"})  # the next writer cuts it
    assert folder.records(ResultsFolder.LAYERS) == [{"variant_key": "a"}, {"variant_key": "c"}]
    assert folder.records(ResultsFolder.TELEMETRY) == []


def test_a_fleet_folder_reads_each_host_by_its_host_file(tmp_path: Path) -> None:
    for name, host in (("a", None), ("b", "board b")):
        folder = ResultsFolder(tmp_path / name)
        folder.results.append({**MINIMAL, "trial_key": name})
        if host:
            folder.write_host(host)
    assert [(f.root.name, f.host) for f in device_folders(tmp_path)] == [("a", "a"), ("b", "board b")]
    assert json.loads((tmp_path / "b" / ResultsFolder.HOST).read_text()) == {"name": "board b"}


def test_a_json_document_that_cannot_be_read_is_empty(tmp_path: Path) -> None:
    folder = ResultsFolder(tmp_path)
    assert folder.read_run() == {}
    folder.path(ResultsFolder.MACHINE).write_text("[1, 2]")
    assert folder.read_machine() == {}
    with pytest.raises(OSError):
        ResultsFolder(tmp_path / "missing").write_json(ResultsFolder.FLEET, {"hosts": []})
