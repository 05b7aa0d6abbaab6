"""sanctions-monitor: watches news feeds for DPRK sanctions breaches and Russia-DPRK transfers.

``__version__`` is the installed distribution's version (``pyproject.toml`` is its one source);
``--version``, the ``build_info`` metric and the default feed ``User-Agent`` all read it.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("sanctions-monitor")
except metadata.PackageNotFoundError:  # a source tree run without installing
    __version__ = "0+unknown"
