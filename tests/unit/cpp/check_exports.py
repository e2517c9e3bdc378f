"""What a shared library exports (nm -D --defined-only): no flatbuffers:: symbol
(another library's flatbuffers would take the place of ours, or ours of theirs),
the expected names and, with --exact, nothing else, so that its internals stay its
own wherever it is loaded (CMakeLists.txt, the version script;
tests/unit/cpp/test_library_coload.cpp).

    check_exports.py --nm NM LIBRARY [--api HEADER] [--expect NAME]... [--exact]
                     [--allow-prefix P]...

--api HEADER: every function the public header declares is expected, its C
functions under their names and those of namespace executorch_tensorrt as
executorch_tensorrt::<name> (any overload). --expect: one more name.
--allow-prefix: names that may be exported with --exact but need not be (the test
double's hooks). Prints what is wrong and exits 1; 0 when all holds.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

NAMESPACE = "executorch_tensorrt"


def header_api(header: Path) -> set[str]:
    """The functions a header declares: C ones (extern "C" block) by name, the
    namespace's as NAMESPACE::name."""
    text = re.sub(r"//[^\n]*", "", header.read_text())
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    names: set[str] = set()
    # Up to the namespace's closing brace (a struct's "};" is not one).
    ns = re.search(r"namespace\s+" + NAMESPACE + r"\s*\{(.*?)\n\}(?!;)", text, re.S)
    if ns:
        body = re.sub(r"struct\s+\w+\s*\{.*?\};", "", ns.group(1), flags=re.S)
        names |= {f"{NAMESPACE}::{n}" for n in re.findall(r"\b(\w+)\s*\(", body)}
    c_block = re.search(r'extern\s+"C"\s*\{(.*?)\n\}', text, re.S)
    if c_block:
        names |= set(re.findall(r"\b(\w+)\s*\(", c_block.group(1)))
    return names


def exported(nm: str, library: Path) -> list[str]:
    """Demangled names of the defined dynamic symbols, parameters stripped."""
    out = subprocess.run(
        [nm, "-D", "--defined-only", "-C", str(library)],
        check=True, capture_output=True, text=True,
    ).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            names.append(parts[2])
    return names


def base_name(symbol: str) -> str:
    # "executorch_tensorrt::find_method(char const*)" -> "executorch_tensorrt::find_method"
    return symbol.split("(", 1)[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("library", type=Path)
    p.add_argument("--nm", default="nm")
    p.add_argument("--api", type=Path, action="append", default=[])
    p.add_argument("--expect", action="append", default=[])
    p.add_argument("--exact", action="store_true")
    p.add_argument("--allow-prefix", action="append", default=[])
    args = p.parse_args()

    expected = set(args.expect)
    for h in args.api:
        api = header_api(h)
        if not api:
            print(f"FAIL: no function declarations found in {h}")
            return 1
        expected |= api
    symbols = exported(args.nm, args.library)
    have = {base_name(s) for s in symbols}
    failed = False

    flatbuffers = sorted(s for s in symbols if "flatbuffers::" in s)
    if flatbuffers:
        failed = True
        print(f"FAIL: {args.library.name} exports {len(flatbuffers)} flatbuffers symbol(s), "
              "which another library's flatbuffers would interpose (or be interposed by):")
        for s in flatbuffers[:20]:
            print(f"  {s}")
    missing = sorted(expected - have)
    if missing:
        failed = True
        print(f"FAIL: {args.library.name} does not export its API: {', '.join(missing)} "
              "(the version script in CMakeLists.txt lists the exports)")
    extra = sorted(
        s for s in symbols
        if base_name(s) not in expected and not any(s.startswith(a) for a in args.allow_prefix)
    ) if args.exact else []
    if extra:
        failed = True
        print(f"FAIL: {args.library.name} exports {len(extra)} symbol(s) outside its API:")
        for s in extra[:40]:
            print(f"  {s}")
    if failed:
        return 1
    what = "exactly its API" if args.exact else "its API"
    print(f"PASS: {args.library.name} exports {what}: {len(symbols)} symbol(s), "
          f"{len(expected)} expected, no flatbuffers::")
    return 0


if __name__ == "__main__":
    sys.exit(main())
