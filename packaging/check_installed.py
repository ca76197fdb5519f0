"""Check an installed opsref wheel the way a user's environment sees it.

Run with the interpreter of the virtual environment the wheel went into (make package):
one top-level package, `opsref`; none of the test or analysis tools pulled in; every
data file a command reads present; and the package imported from site-packages, not
from a source tree. Exit 1 with one line per problem.
"""

from __future__ import annotations

import sys
import sysconfig
from importlib import metadata, resources
from pathlib import Path

#: tools of the dev extra; a user's environment must not receive them
DEV_ONLY = ("pytest", "pytest-xdist", "mypy", "crosshair-tool", "hypothesis", "jsonschema", "build")
#: data files commands read, by package
DATA_FILES = {
    "opsref.conformance": ("trace.schema.json", "PROTOCOL.md"),
    "opsref.proofs": ("equivalent_mutants.txt",),
    "opsref": ("py.typed",),
}


def problems() -> list[str]:
    found: list[str] = []
    dist = metadata.distribution("opsref")
    tops = {Path(str(f)).parts[0] for f in dist.files or ()}
    tops = {t for t in tops if not t.endswith(".dist-info") and t != ".." and t != "__pycache__"}
    if tops != {"opsref"}:
        found.append(f"top-level entries installed: {sorted(tops)} (expected only 'opsref')")
    installed = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    found += [f"dev-only tool installed as a dependency: {name}" for name in DEV_ONLY if name in installed]
    for package, names in DATA_FILES.items():
        found += [f"data file missing from the wheel: {package}/{name}"
                  for name in names if not resources.files(package).joinpath(name).is_file()]
    import opsref
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    if site not in Path(opsref.__file__).resolve().parents:
        found.append(f"opsref imported from {opsref.__file__}, not from {site}")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(f"check_installed: {line}", file=sys.stderr)
    if not found:
        dist = metadata.distribution("opsref")
        print(f"installed wheel: one top-level package (opsref {dist.version}), "
              f"requires {', '.join(r for r in dist.requires or [] if 'extra ==' not in r) or 'nothing'}; no dev tools; data files present")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
