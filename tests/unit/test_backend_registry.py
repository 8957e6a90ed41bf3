"""One registry, filled lazily: importing the backends imports no runtime, and a backend
whose runtime is missing says which package it needs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from shared.errors import MissingDependency, UserError
from shared.registry import Registry


def test_importing_the_backends_imports_no_runtime() -> None:
    code = ("import sys, agent.backends, agent.worker, agent.measure_runner, agent.cli; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_lazy_entry_is_imported_on_first_get_only() -> None:
    registry: Registry[object] = Registry("thing", ("json_thing", "other"))
    registry.register_lazy("json_thing", "json:JSONDecoder")
    assert registry.names() == ("json_thing",) and list(registry) == ["json_thing"]
    import json
    assert registry.get("json_thing") is json.JSONDecoder
    with pytest.raises(UserError, match=r"unknown thing 'nope' \(valid: json_thing\)"):
        registry.get("nope")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_lazy("json_thing", "json:JSONEncoder")


def test_a_missing_dependency_names_the_package_and_the_extra() -> None:
    registry: Registry[object] = Registry("backend", ("torch",))
    registry.register_lazy("torch", "edgeprune_no_such_module:Backend")
    with pytest.raises(MissingDependency) as caught:
        registry.get("torch")
    assert str(caught.value) == ("backend 'torch' needs module 'edgeprune_no_such_module', which is not "
                                 "installed here (pip install 'edgeprune[full]' brings it)")
    assert isinstance(caught.value, UserError)
