import logging
import os
import sys

import pytest

# Tests import helpers from this folder (tests/ is not a package shipped in the wheel).
sys.path.insert(0, os.path.dirname(__file__))

logging.getLogger("torch").setLevel(logging.ERROR)
logging.getLogger("onnxscript").setLevel(logging.ERROR)
logging.getLogger("onnx_ir").setLevel(logging.ERROR)


@pytest.fixture
def tmp_pte(tmp_path):
    return tmp_path / "model.pte"
