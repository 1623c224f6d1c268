"""Trains and exports the tone demo (kws.export.demo): an export folder in a minute or two, no data.

    python export/make_demo.py --workdir=/tmp/kws_demo --output_dir=/tmp/kws_demo/export

CI runs it in the TensorFlow venv to make the export folder the TF-free device tests consume
(.ci/device_venv.sh).
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string("workdir", None, "Where the tone data and the run go.",
                               required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Export folder to write.", required=True)
_EPOCHS = flags.DEFINE_integer("epochs", 12, "Training epochs.", lower_bound=1)
_MODEL = flags.DEFINE_enum("model", "ds_cnn", ["ds_cnn", "tiny_conv"], "ds_cnn: streamable "
                           "DS-CNN-S (the export has streaming models too); tiny_conv: window only.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from kws import quiet  # pylint: disable=g-import-not-at-top

    quiet.install()  # TensorFlow's start-up lines off the console unless KWS_TF_LOGS=1
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # the converter logs every step at INFO under absl
    from kws.export import demo  # pylint: disable=g-import-not-at-top
    from kws.export import report  # pylint: disable=g-import-not-at-top

    result = demo.make_demo_export(_WORKDIR.value, _OUTPUT_DIR.value, epochs=_EPOCHS.value,
                                   model=_MODEL.value)
    print(report.format_table(result))
    print(f"wrote {os.path.abspath(_OUTPUT_DIR.value)}")


if __name__ == "__main__":
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if _ROOT not in sys.path:  # run from a checkout where kws is not installed
        sys.path.insert(0, _ROOT)
    app.run(main)
