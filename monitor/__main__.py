"""``python -m monitor`` runs the command line.

The import and the call sit under the ``__main__`` guard: a ``spawn`` child process imports this
module again as ``__mp_main__``, and must then get neither a second command line nor its imports.
"""

from __future__ import annotations

if __name__ == "__main__":
    import sys

    from monitor.cli import main

    sys.exit(main())
