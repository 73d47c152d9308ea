"""Finding extensions (built-in, directories, entry points) and importing their code.

Discovery reads manifests only; no extension code runs until `import_extension`, so a broken
or slow extension costs nothing until it is loaded, and a lazy one is never imported unless
used. Directory extensions are imported under a private module name per load, so two
extensions may both ship a `plugin.py` and each load starts from fresh module state.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from ordinaut.core.errors import InvalidInput
from ordinaut.plugins.capabilities import grants_for
from ordinaut.plugins.manifest import ID_PATTERN, MANIFEST_FILE, Manifest, read_manifest

ENTRY_POINT_GROUP = "ordinaut.plugins"


class ExtensionSource(StrEnum):
    BUILTIN = "builtin"  # ordinaut/extensions/<dir>/extension.json
    PATH = "path"  # a directory listed in ORDINAUT_EXT_PATHS
    ENTRY_POINT = "entry_point"  # an installed distribution's `ordinaut.plugins` entry point


@dataclass(frozen=True)
class DiscoveredExtension:
    """One extension found on disk or in installed metadata; `problem` if its manifest is bad."""

    id: str
    source: ExtensionSource
    location: str
    manifest: Manifest | None = None
    problem: str | None = None
    directory: Path | None = None
    package: str | None = None  # import package of a built-in
    entry_point: EntryPoint | None = None


def discover_directories(
    roots: Iterable[Path], source: ExtensionSource, package: str | None = None
) -> list[DiscoveredExtension]:
    """Each root is an extension (it holds extension.json) or a folder of extensions."""
    found: list[DiscoveredExtension] = []
    for root in roots:
        if (root / MANIFEST_FILE).is_file():
            found.append(_from_directory(root, source, package))
        elif root.is_dir():
            children = sorted(p for p in root.iterdir() if (p / MANIFEST_FILE).is_file())
            found.extend(_from_directory(child, source, package) for child in children)
    return found


def _from_directory(
    directory: Path, source: ExtensionSource, package: str | None
) -> DiscoveredExtension:
    base = DiscoveredExtension(
        id=directory.name,
        source=source,
        location=str(directory),
        directory=directory,
        package=f"{package}.{directory.name}" if package is not None else None,
    )
    try:
        manifest = read_manifest(directory / MANIFEST_FILE)
    except InvalidInput as exc:
        return replace(base, problem=exc.message)
    return replace(base, id=manifest.id, manifest=manifest)


def discover_entry_points(
    grants: Mapping[str, Iterable[object]], group: str = ENTRY_POINT_GROUP
) -> list[DiscoveredExtension]:
    """Installed plugins; their manifest comes from the distribution, grants from configuration.

    Entry-point plugins are eager: nothing routes a first request to one that only offers
    tools, events or background work.
    """
    found: list[DiscoveredExtension] = []
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        base = DiscoveredExtension(
            id=point.name, source=ExtensionSource.ENTRY_POINT, location=point.value
        )
        if not re.match(ID_PATTERN, point.name):
            found.append(replace(base, problem=f"entry point name {point.name!r} is no valid id"))
            continue
        try:
            manifest = _entry_point_manifest(point, grants)
        except InvalidInput as exc:
            found.append(replace(base, problem=exc.message))
            continue
        found.append(replace(base, manifest=manifest, entry_point=point))
    return found


def _entry_point_manifest(point: EntryPoint, grants: Mapping[str, Iterable[object]]) -> Manifest:
    dist = point.dist
    summary = dist.metadata["Summary"] if dist is not None else None
    return Manifest(
        id=point.name,
        name=dist.name if dist is not None else point.name,
        version=dist.version if dist is not None else "0",
        module=point.module,
        description=summary or "",
        eager=True,
        grants=grants_for(point.name, grants),
    )


def import_extension(found: DiscoveredExtension) -> object:
    """Import the extension's code and return the object holding `setup` (module or other)."""
    if found.entry_point is not None:
        return found.entry_point.load()
    assert found.manifest is not None, "a manifest problem stops an extension before import"
    module = found.manifest.module
    if found.package is not None:
        absolute = module if module.startswith("ordinaut.") else f"{found.package}.{module}"
        return importlib.import_module(absolute)
    assert found.directory is not None
    return _import_from_directory(found.id, found.directory, module)


def _import_from_directory(ext_id: str, directory: Path, module: str) -> object:
    head, _, rest = module.partition(".")
    alias = "_ordinaut_ext_" + ext_id.replace("-", "_")
    package_init = directory / head / "__init__.py"
    if package_init.is_file():
        locations = [str(package_init.parent)]
        spec = importlib.util.spec_from_file_location(
            alias, package_init, submodule_search_locations=locations
        )
    elif (directory / f"{head}.py").is_file() and not rest:
        spec = importlib.util.spec_from_file_location(alias, directory / f"{head}.py")
    else:
        raise ModuleNotFoundError(f"no module {module!r} in {directory}")
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"cannot import {module!r} from {directory}")
    for name in [n for n in sys.modules if n == alias or n.startswith(alias + ".")]:
        del sys.modules[name]  # each load starts fresh
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[alias] = loaded
    try:
        spec.loader.exec_module(loaded)
        return importlib.import_module(f"{alias}.{rest}") if rest else loaded
    except BaseException:
        sys.modules.pop(alias, None)
        raise
