#!/usr/bin/env bash
# Builds a venv where tensorflow-io's native ops load and runs the tests of the tfio audio backend.
#
#   .ci/tfio_venv.sh VENV_DIR        (e.g. .ci/tfio_venv.sh .venv-tfio; PYTHON=python3.11 to choose)
#
# tensorflow-io 0.37.1 is its last release; its ops fail to load on TensorFlow >= 2.18 (undefined
# symbols), so this venv pins TensorFlow 2.17.1, the oldest release that also converts Keras 3 models
# to TFLite. TF 2.17.1 itself requires numpy < 2. The main venv (TF 2.21) runs the same test files
# and asserts the fallback to soundfile there.
set -euo pipefail

venv="${1:?usage: $0 VENV_DIR}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install \
  "tensorflow==2.17.1" "tensorflow-io==0.37.1" "numpy<2" soundfile soxr absl-py pytest
"$venv/bin/python" -m pip install --no-deps -e "$repo"

cd "$repo"
"$venv/bin/python" -c 'from kws.data import decode; ok, why = decode.tfio_status(); print(why); assert ok'
"$venv/bin/python" -m pytest tests/test_tfio_backend.py tests/test_decode.py -q
