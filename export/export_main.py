"""Runs `kws-export` from a checkout: `python export/export_main.py --workdir=RUN --output_dir=OUT`.

The same command as the `kws-export` console script (kws.export.cli).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a script from a checkout where kws is not installed: the repository root holds kws/.
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    from kws.export import cli  # pylint: disable=g-import-not-at-top

    cli.run()
