"""Where the bundled default config, rules and watchlists are, and ``init``'s editable copy.

For the CLI (``check-config`` with no ``--config``, ``init DIR``) and the config loader. The
files ship inside the package as ``monitor.bundled`` (their source is the repository's top-level
``config/`` folder; ``setup.py`` maps it), so they are found with ``importlib.resources`` from a
wheel, from an editable install, and, as a last resort, from a source tree run without
installing.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from monitor.errors import ConfigError, UsageError

#: The YAML files ``init`` copies, as globs relative to the bundle's folder.
STARTER_GLOBS = ("monitor.yaml", "rules/*.yaml", "watchlists/*.yaml")
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "config"


def bundled_dir() -> Path:
    """The folder holding the bundled ``monitor.yaml``, ``rules/`` and ``watchlists/``."""
    try:
        root = resources.files("monitor.bundled")
    except ModuleNotFoundError:  # python -m monitor from a tree that was never installed
        return _SOURCE_TREE
    # An installed wheel or an editable install is a folder on disk (never a zip here).
    return Path(str(root))


def bundled_config() -> Path:
    """The bundled default ``monitor.yaml``."""
    return bundled_dir() / "monitor.yaml"


def starter_files() -> list[Path]:
    """The bundled YAML files, relative to ``bundled_dir()``, in a stable order."""
    root = bundled_dir()
    found = sorted({p.relative_to(root) for pattern in STARTER_GLOBS for p in root.glob(pattern)})
    if Path("monitor.yaml") not in found:
        raise ConfigError(f"the bundled config is missing from {root} (a broken install?)")
    return found


def write_starter(dest: Path, *, force: bool = False) -> list[Path]:
    """Copy the bundled config, rules and watchlists into ``dest``; returns the files written.

    Refuses (``UsageError``) to overwrite an existing file unless ``force``: an operator's
    edited copy is never lost to a second ``init``.
    """
    files = starter_files()
    clashes = [dest / rel for rel in files if (dest / rel).exists()]
    if clashes and not force:
        raise UsageError(
            f"init: {clashes[0]} already exists ({len(clashes)} file(s) would be overwritten;"
            " use --force to replace them)"
        )
    root = bundled_dir()
    written = []
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
        written.append(target)
    return written
