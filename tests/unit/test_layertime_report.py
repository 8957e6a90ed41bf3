"""The report's 'Where the time went' section, on hand-made layer-time records with known answers."""
from __future__ import annotations

import dataclasses

from collector.report import html
from collector.report.model import Budgets, Note
from collector.report.sections import layertime
from shared.layertime import ORIGINAL, VARIANT, LayerTimes, OpTime
from tests.unit.test_report_sections import data, variant_rows


def record(role: str, conv_ms: float, linear_ms: float, *, ratio: float, backend: str = "onnxruntime",
           batch: int = 1) -> LayerTimes:
    return LayerTimes(run_id="r1", trial_key=None, variant_key=f"v{ratio}", base_model_key="b1", role=role,
                      model="m", method="structured", target_ratio=ratio, backend=backend, device="cpu",
                      batch_size=batch, profiler="onnxruntime", passes=20,
                      ops=(OpTime("/conv1/Conv", "Conv", conv_ms, 1.0), OpTime("/fc/Gemm", "Gemm", linear_ms, 1.0)))


def test_a_variant_is_set_beside_its_original_by_kind_of_op() -> None:
    records = (("h1", record(ORIGINAL, 8.0, 2.0, ratio=0.0)), ("h1", record(VARIANT, 1.0, 1.5, ratio=0.5)),
               # another batch size has no original: it is left out, not compared with batch 1's
               ("h1", record(VARIANT, 1.0, 1.0, ratio=0.5, batch=8)))
    section = layertime.build(dataclasses.replace(data(variant_rows()), layer_times=records), Budgets())
    assert section is not None and section.title == "Where the time went"
    totals, kinds = (t.frame for t in section.tables)
    assert len(totals) == 1
    assert (totals.loc[0, "original_ms"], totals.loc[0, "variant_ms"]) == (10.0, 2.5)
    assert totals.loc[0, "most_saved_in"] == "conv" and totals.loc[0, "slowest_in_variant"] == "linear"
    assert kinds.set_index("kind")["saved_ms"].to_dict() == {"conv": 7.0, "linear": 0.5}
    assert kinds.set_index("kind")["share_of_original"].to_dict() == {"conv": 0.8, "linear": 0.2}
    assert "from 10 to 2.5 ms profiled; most time saved in conv" in section.summary[0]
    page = html.section_html(section, "report-tables")
    assert "Where the time went" in page and "layer-time-totals" in page


def test_no_profile_no_section_and_an_original_alone_is_a_note() -> None:
    assert layertime.build(data(variant_rows()), Budgets()) is None
    alone = (("h1", record(ORIGINAL, 8.0, 2.0, ratio=0.0)),)
    section = layertime.build(dataclasses.replace(data(variant_rows()), layer_times=alone), Budgets())
    assert section is not None and isinstance(section.blocks[0], Note) and section.blocks[0].kind == "warn"
