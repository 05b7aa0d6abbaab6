"""Package list for setuptools (everything else is in pyproject.toml).

The bundled config, rules and watchlists live in the top-level ``config/`` folder, where an
operator reading the repository finds them; the wheel carries them as ``monitor.bundled``.
pyproject.toml's ``packages.find`` cannot map a folder outside ``monitor/`` into the package,
so the list is built here: every package under ``monitor/``, plus ``monitor.bundled`` → ``config``.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["monitor", "monitor.*"], exclude=["*.__pycache__"]),
        "monitor.bundled",
    ],
    package_dir={"monitor.bundled": "config"},
)
