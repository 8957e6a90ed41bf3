"""The safe YAML reader, on both of PyYAML's parsers (libyaml where the wheel has it, the
pure-Python one on a device without it), and the tables the one-line errors rely on."""
from __future__ import annotations

import contextlib
import random
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from shared import yamlfile
from shared.errors import EXTRA_OF_MODULE, MAX_MESSAGE_CHARS, UserError, needs_module, shown
from shared.plan import trials, variants
from shared.resultsdir import ResultsFolder
from shared.sweep import parse_sweep
from shared.yamlfile import decode_utf8, load_yaml, read_bounded

ROOT = Path(__file__).parents[2]
PARSERS = [pytest.param(False, id="pure-python"),
           pytest.param(True, id="libyaml", marks=pytest.mark.skipif(
               not yaml.__with_libyaml__, reason="this PyYAML was built without libyaml"))]
LAUGHS = "".join(["a: &a [1,1,1,1,1,1,1,1,1]\n",
                  *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))])


@pytest.mark.parametrize("libyaml", PARSERS)
@pytest.mark.parametrize(("text", "expected"), [
    ("[" * 20000 + "]" * 20000, r"line 1, column \d+: malformed YAML: .*nest"),
    ("- " * 150 + "x\n", r"line 1, column \d+: malformed YAML: nested more than 100 levels deep"),
    (LAUGHS, r"line 7, column 4: malformed YAML: aliases expand it past 1,000,000 values"),
    ("a: &x [1, *x]\n", r"line 1, column 4: malformed YAML: an alias refers to the value it is part of"),
    ("a: 1\nb: 2\na: 3\n", r"line 3, column 1: malformed YAML: key 'a' given twice"),
    ("a: 1" + "0" * 5000 + "\n", r"line 1, column 4: malformed YAML: cannot read this value: Exceeds the limit \(4300 digits\)"),
    ("a: [1, 2020-13-45]\n", r"line 1, column 8: malformed YAML: cannot read this value: month must be in 1..12"),
    ("a: 1\nb: x\x01\n", r"line 2, column 5: malformed YAML: .*characters are not allowed"),
    ("a: !!python/object/apply:os.system [true]\n", r"line 1, column 4: .*could not determine a constructor"),
    # found by fuzzing: PyYAML's constructors raise KeyError, IndexError, AttributeError on these
    ("a: !!bool maybe\n", r"line 1, column 4: malformed YAML: cannot read this value: 'maybe'"),
    ("a: !!float ''\n", r"line 1, column 4: malformed YAML: cannot read this value: string index out of range"),
    ("a: !!timestamp x\n", r"line 1, column 4: malformed YAML: cannot read this value: "),
    ("a: !!map [1]\n", r"line 1, column 4: malformed YAML: expected a mapping node"),
    ("a: !!set [1]\n", r"line 1, column 4: malformed YAML: expected a mapping node"),
])
def test_a_hostile_document_is_one_line_with_its_place(libyaml: bool, text: str, expected: str) -> None:
    with pytest.raises(UserError) as caught:
        load_yaml(text, "f.yml", libyaml=libyaml)
    assert re.fullmatch(f"f.yml: {expected}.*", str(caught.value)), str(caught.value)


@pytest.mark.parametrize("libyaml", PARSERS)
def test_ordinary_yaml_reads_as_safe_load_does(libyaml: bool) -> None:
    files = [*ROOT.glob("deploy/*.yml"), *ROOT.glob("shared/sweeps/*.yml")]
    assert len(files) >= 5
    for path in files:
        text = path.read_text()
        assert load_yaml(text, str(path), libyaml=libyaml) == yaml.safe_load(text), path
    shared = "d: &d {user: edge}\nhosts: [{<<: *d, user: pi}, *d, *d]\n"  # merge keys, shared values
    assert load_yaml(shared, "f", libyaml=libyaml) == yaml.safe_load(shared)


def test_utf8_is_checked_with_the_offset_and_line_of_the_first_bad_byte() -> None:
    with pytest.raises(UserError, match=r"^f: line 2, byte offset 11: not UTF-8 text \(byte 0xe9\)"):
        decode_utf8("a: 1\nb: caf\xe9\n".encode("latin-1"), "f")
    assert decode_utf8("\ufeffa: 1".encode(), "f") == "a: 1"  # a byte-order mark is not content


def test_a_file_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^/dev/zero: sweep file over the 1 MiB limit"):
        read_bounded("/dev/zero", "sweep file")
    with pytest.raises(UserError, match=r": cannot read sweep file: Is a directory"):
        read_bounded(tmp_path, "sweep file")
    exact = tmp_path / "exact.yml"
    exact.write_bytes(b"#" * yamlfile.MAX_FILE_BYTES)
    assert len(read_bounded(exact, "sweep file")) == yamlfile.MAX_FILE_BYTES


def test_messages_are_one_bounded_line() -> None:
    assert len(shown(list(range(10**6)))) < 100 and len(shown("x" * 10**6)) < 100
    error = UserError("x" * 10**6 + "\nsecond", source="f\nile", valid=[f"h{i}" for i in range(5000)])
    assert "\n" not in str(error) and len(str(error)) <= MAX_MESSAGE_CHARS


def test_every_optional_module_names_the_extra_that_brings_it() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    import_names = {"scikit-learn": "sklearn", "torch-pruning": "torch_pruning"}
    for extra, requirements in extras.items():
        for requirement in requirements:
            dist = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
            module = import_names.get(dist, dist)
            if extra in ("test",):
                continue
            assert module in EXTRA_OF_MODULE, f"{module} ({extra}) is missing from EXTRA_OF_MODULE"
    for module, extra in EXTRA_OF_MODULE.items():
        dists = [re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] for r in extras[extra]]
        assert module in [import_names.get(d, d) for d in dists], f"{module} is not in [{extra}]"
    error = ModuleNotFoundError("No module named 'dowhy.causal_model'", name="dowhy.causal_model")
    assert str(needs_module("collector analyze", error)) == (
        "collector analyze needs module 'dowhy', which is not installed here "
        "(pip install 'edgeprune[analysis]' brings it)")


def test_the_fleet_files_are_those_the_collector_writes() -> None:
    from collector.report.export import paths

    fleet = ResultsFolder(Path("out"))
    report_files = {p.name for p in paths(fleet.path(ResultsFolder.REPORT))}  # the report's own names
    for name in {ResultsFolder.STORE, ResultsFolder.PARQUET, ResultsFolder.ANALYSIS, ResultsFolder.FLEET,
                 *report_files}:
        assert name in ResultsFolder.FLEET_FILES


def test_an_accepted_sweep_never_has_two_trials_with_one_key() -> None:
    sweep = parse_sweep({"name": "keys", "models": ["lenet5", "resnet18"],
                         "methods": ["l1_unstructured", {"name": "l1_unstructured", "scope": "layer"},
                                     {"name": "structured", "importance": "l1"}],
                         "ratios": [0, 0.5, 0.25], "batch_sizes": [1, 8], "backends": ["torch", "onnxruntime"]})
    keys = [t.key for v in variants(sweep) for t in trials(sweep, v, ("cpu",))]
    assert len(keys) == 2 * 3 * 3 * 2 * 2 and len(set(keys)) == len(keys)


FUZZ_TOKENS = ["a", ":", " ", "\n", "- ", "[", "]", "{", "}", ",", "&x ", "*x", "<<: ", "!!set ", "!!omap ",
               "!!pairs ", "!!binary ", "!!float ", "!!int ", "!!bool ", "!!null ", "!!timestamp ", "!!str ",
               "!!map ", "!!seq ", "? ", "'", '"', "1", "0x", "0o", "1_0", "1:20", ".nan", ".inf", "2020-13-45",
               "|", ">", "#", "\t", "---", "...", "%YAML 1.1\n", "%TAG ! x\n", "!vault ", "!unsafe ", "!x ", "~",
               "\\", "\x85", "\ufeff", "\u2028", "name", "hosts", "all", "children", "vars", "ratios", "models",
               "methods", "defaults", "pi-[1:3]", "workdir", "port"]


@pytest.mark.parametrize("libyaml", PARSERS)
def test_random_token_soup_is_a_user_error_or_a_value(libyaml: bool) -> None:
    """20,000 seeded documents of YAML tokens: the reader and the three parsers raise nothing but
    UserError (the first fuzzing found KeyError, IndexError, AttributeError and TypeError)."""
    from collector.analysis.config import parse_config
    from shared.inventory import parse_inventory
    from shared.inventory_fields import ANSIBLE_TAGS

    rng = random.Random(0)
    for i in range(20_000):
        text = "".join(rng.choice(FUZZ_TOKENS) for _ in range(rng.randint(1, 60)))
        try:
            data = load_yaml(text, "f", ANSIBLE_TAGS if i % 2 else None, libyaml=libyaml)
            for parse in (parse_sweep, parse_inventory, parse_config):
                with contextlib.suppress(UserError):
                    parse(data, "f")
        except UserError as exc:
            assert "\n" not in str(exc)
