"""The aarch64 pyconfig.h of a CPython whose aarch64 headers no reachable registry has
(JetPack 6's Python 3.10), derived from the x86-64 one of the same distribution build.

CPython's headers are the same on every architecture except pyconfig.h, which configure
writes. Between x86-64 and aarch64 Linux (both LP64, little-endian, glibc) configure's
answers differ in exactly the defines ARM64_CHANGES lists: the x86 inline-assembly checks,
whether wchar_t is usable as Py_UNICODE's storage (unsigned on aarch64), and 3.11's
support tier. None of them changes the layout of anything an extension sees.

--check proves that rule on a pair that both exist: deriving from Debian 12's amd64
python3.11 pyconfig.h must give Debian 12's arm64 one byte for byte. Derivation fails
when a define the rule expects is missing, so a pyconfig.h of another shape is refused,
not passed through.

    python scripts/jetson_pyconfig.py --check AMD64_3.11 ARM64_3.11
    python scripts/jetson_pyconfig.py AMD64_PYCONFIG OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# (x86-64 line, aarch64 line, required): a required line must be in the input.
ARM64_CHANGES = [
    ("#define HAVE_GCC_ASM_FOR_X64 1", "/* #undef HAVE_GCC_ASM_FOR_X64 */", True),
    ("#define HAVE_GCC_ASM_FOR_X87 1", "/* #undef HAVE_GCC_ASM_FOR_X87 */", True),
    ("/* #undef HAVE_USABLE_WCHAR_T */", "#define HAVE_USABLE_WCHAR_T 1", True),
    ("#define PY_SUPPORT_TIER 1", "#define PY_SUPPORT_TIER 2", False),  # 3.11 and newer
]
# x86-64 Linux facts the rule relies on (the same on aarch64 Linux).
SAME_ON_ARM64 = ["#define SIZEOF_LONG 8", "#define SIZEOF_VOID_P 8", "#define SIZEOF_WCHAR_T 4",
                 "#define SIZEOF_LONG_DOUBLE 16", "#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1"]


def derive(text: str) -> str:
    lines = text.split("\n")
    for line in SAME_ON_ARM64:
        if line not in lines:
            raise ValueError(f"not an x86-64 Linux pyconfig.h: no '{line}'")
    for x86, arm, required in ARM64_CHANGES:
        hits = [i for i, line in enumerate(lines) if line == x86]
        if len(hits) > 1 or (required and not hits):
            raise ValueError(f"expected '{x86}' once, found it {len(hits)} times")
        for i in hits:
            lines[i] = arm
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true",
                   help="SOURCE is an amd64 pyconfig.h, TARGET the arm64 one of the same build")
    p.add_argument("source", type=Path)
    p.add_argument("target", type=Path)
    args = p.parse_args()
    try:
        derived = derive(args.source.read_text())
    except ValueError as e:
        print(f"jetson pyconfig: FAIL: {args.source}: {e}", file=sys.stderr)
        return 1
    if args.check:
        if derived != args.target.read_text():
            print(f"jetson pyconfig: FAIL: the rule does not turn {args.source} into "
                  f"{args.target}; diff them to see what else differs", file=sys.stderr)
            return 1
        print(f"jetson pyconfig: the x86-64 -> aarch64 rule reproduces {args.target.name} "
              f"of {args.target.parent}")
        return 0
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text(derived)
    print(f"jetson pyconfig: {args.target} derived from {args.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
