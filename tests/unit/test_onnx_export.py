"""The torch.onnx internals backend/onnx_export.py uses are where it expects them."""

from __future__ import annotations

import logging

import torch

from executorch_tensorrt.backend import onnx_export


def test_every_private_torch_onnx_name_used_exists():
    missing = onnx_export.missing_internals()
    assert not missing, (
        f"torch {torch.__version__} moved private names backend/onnx_export.py uses: {', '.join(missing)}; "
        "update onnx_export.py (and INTERNALS, TESTED_TORCH) for this torch"
    )


def test_installed_torch_is_a_tested_version():
    assert onnx_export.torch_version_tested(), (
        f"torch {torch.__version__} is not in onnx_export.TESTED_TORCH {onnx_export.TESTED_TORCH}"
    )
    assert not onnx_export.torch_version_tested("2.99.0")
    assert not onnx_export.torch_version_tested("not a version")


def test_an_untested_torch_is_reported(monkeypatch):
    records: list[str] = []

    class Keep(logging.Handler):  # pytest's logging plugin is off in this project
        def emit(self, record):
            records.append(record.getMessage())

    monkeypatch.setattr(onnx_export, "TESTED_TORCH", ((1, 0),))
    logger = logging.getLogger(onnx_export.__name__)
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    onnx_export._check_torch_version.cache_clear()
    try:
        onnx_export._check_torch_version()
    finally:
        onnx_export._check_torch_version.cache_clear()
        logger.removeHandler(handler)
    assert any(torch.__version__ in m and "1.0" in m for m in records), records


def test_missing_internal_is_named(monkeypatch):
    monkeypatch.setattr(onnx_export, "INTERNALS", onnx_export.INTERNALS + (("torch.onnx", "_no_such_name"),))
    assert onnx_export.missing_internals() == ["torch.onnx._no_such_name"]
