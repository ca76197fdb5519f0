"""The wheel's layout in pyproject.toml matches the source tree: every layer the
`opsref` namespace links to is packaged from its own folder, and nothing is left out.
(`make package` installs the built wheel into a fresh environment and runs it.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setuptools_config() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tool: dict[str, object] = config["tool"]["setuptools"]
    return tool


def test_every_linked_layer_is_packaged_from_its_folder() -> None:
    links = {f"opsref.{p.name}": p.readlink().as_posix().removeprefix("../")
             for p in (ROOT / "opsref").iterdir() if p.is_symlink()}
    package_dir = setuptools_config()["package-dir"]
    assert isinstance(package_dir, dict)
    assert links, "opsref/ links no layer folders"
    assert {k: v for k, v in package_dir.items() if k != "opsref"} == links
    assert sorted(setuptools_config()["packages"]) == sorted(["opsref", *links])  # type: ignore[call-overload]


def test_every_layer_folder_is_a_package_with_its_data_listed() -> None:
    package_dir = setuptools_config()["package-dir"]
    data = setuptools_config()["package-data"]
    assert isinstance(package_dir, dict) and isinstance(data, dict)
    for package, folder in package_dir.items():
        assert (ROOT / folder / "__init__.py").is_file(), f"{folder}/ is not a package"
        non_python = {p.name for p in (ROOT / folder).iterdir()
                      if p.is_file() and p.suffix not in {".py", ".pyc"}}
        assert non_python == set(data.get(package, ())), f"{folder}/: data files not all in package-data"
