"""The bundled default config, rules and watchlists, installed as the package ``monitor.bundled``.

This file only makes the folder importable, so ``importlib.resources.files("monitor.bundled")``
finds the YAML files inside a wheel and in an editable install. ``sanctions-monitor init DIR``
copies the YAML files (not this file) into a folder you can edit.
"""
