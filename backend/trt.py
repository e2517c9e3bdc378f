"""Finding TensorRT at run time.

Two flavors share the network/builder/parser API this project uses:

* standard TensorRT, Python module ``tensorrt`` (JetPack on Jetson, datacenter GPUs);
* TensorRT-RTX, Python module ``tensorrt_rtx`` (or ``tensorrt_rtx_bindings``, as the
  ``tensorrt-rtx-cu13-bindings`` wheel names it).

An engine only runs on the flavor and version that built it, so the flavor and the
builder version travel in every blob (see runtime/schema/tensorrt_blob.fbs).
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Optional

from executorch_tensorrt.serialization.blob import Flavor

INSTALL_HINT = (
    "No TensorRT Python module could be imported. Install one of the two flavors:\n"
    "  TensorRT-RTX (RTX GPUs; its builder also runs on a machine with no GPU):\n"
    "    pip install tensorrt-rtx-cu13-libs==1.7.1.116 tensorrt-rtx-cu13-bindings==1.7.1.116\n"
    "  standard TensorRT (datacenter GPUs; on Jetson it comes with JetPack as python3-libnvinfer):\n"
    "    pip install tensorrt-cu13\n"
    "Set EXECUTORCH_TENSORRT_FLAVOR=rtx or =standard to choose when both are installed."
)


class TensorRTNotFoundError(ImportError):
    pass


@dataclass(frozen=True)
class TensorRT:
    """The imported TensorRT module and what kind it is."""

    module: ModuleType
    flavor: Flavor
    version: str


# Module names to try per flavor, in order.
_CANDIDATES = {
    Flavor.RTX: ("tensorrt_rtx", "tensorrt_rtx_bindings"),
    Flavor.STANDARD: ("tensorrt", "tensorrt_bindings"),
}


def _try_import(name: str) -> Optional[ModuleType]:
    try:
        mod = importlib.import_module(name)
    except ImportError:
        return None
    # A pip "tensorrt" meta package whose libraries failed to install imports but has
    # no Builder; treat it as absent rather than failing later with AttributeError.
    return mod if hasattr(mod, "Builder") and hasattr(mod, "OnnxParser") else None


@functools.lru_cache(maxsize=None)
def load(flavor: Optional[str] = None) -> TensorRT:
    """Import TensorRT. ``flavor`` ("rtx" / "standard") or $EXECUTORCH_TENSORRT_FLAVOR pins
    one flavor; otherwise standard TensorRT is preferred when both are importable, since a
    machine that has it (Jetson, datacenter) runs its engines."""
    wanted = (flavor or os.environ.get("EXECUTORCH_TENSORRT_FLAVOR") or "").strip().lower()
    if wanted not in ("", "rtx", "standard"):
        raise ValueError(
            f"Unknown TensorRT flavor {wanted!r}: allowed values are 'rtx' and 'standard'"
        )
    order = [Flavor.STANDARD, Flavor.RTX]
    if wanted == "rtx":
        order = [Flavor.RTX]
    elif wanted == "standard":
        order = [Flavor.STANDARD]
    for fl in order:
        for name in _CANDIDATES[fl]:
            mod = _try_import(name)
            if mod is not None:
                return TensorRT(mod, fl, str(getattr(mod, "__version__", "0")))
    hint = INSTALL_HINT
    if wanted:
        hint = f"TensorRT flavor {wanted!r} was requested but is not importable.\n" + hint
    raise TensorRTNotFoundError(hint)


def available() -> bool:
    try:
        load()
    except (TensorRTNotFoundError, ValueError):
        return False
    return True
