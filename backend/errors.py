"""LoweringError, and the one-line texts lowering errors quote from the exceptions of
the tools they call (torch.onnx, onnxscript)."""

from __future__ import annotations

import re


class LoweringError(RuntimeError):
    pass


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def root_cause(e: BaseException, limit: int = 600) -> str:
    """'Type: message' of the innermost exception in ``e``'s cause chain. The exporter's
    own exception is a page of generic advice; what went wrong (e.g. "No ONNX function
    found for <OpOverload(op='aten.foo', ...)>") is the innermost cause."""
    seen = set()
    while e.__cause__ is not None and id(e.__cause__) not in seen:
        seen.add(id(e))
        e = e.__cause__
    text = " ".join(_ANSI.sub("", str(e)).split())
    text = text if len(text) <= limit else text[:limit] + " ..."
    return f"{type(e).__name__}: {text}"


def first_line(e: BaseException, limit: int = 600) -> str:
    text = str(e).strip()
    return text if len(text) <= limit else text[:limit] + " ..."
