"""Runs `kws-infer` from a checkout: `python export/infer.py --model_dir=EXPORT_DIR clip.wav`.

The same command as the `kws-infer` console script (kws.device.cli); it needs only numpy,
absl-py and ai-edge-litert (sounddevice for --mic), never TensorFlow.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a script from a checkout where kws is not installed: the repository root holds kws/.
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    from kws.device import cli  # pylint: disable=g-import-not-at-top

    cli.run()
