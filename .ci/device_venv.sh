#!/usr/bin/env bash
# Runs the device tests in a venv WITHOUT TensorFlow, against an export folder made earlier:
#
#   .ci/device_venv.sh EXPORT_DIR [VENV_DIR]
#
#   EXPORT_DIR  an export folder of the tone demo, made in the TensorFlow venv first:
#                 .venv/bin/python export/make_demo.py --workdir=/tmp/kws_demo --output_dir=EXPORT_DIR
#   VENV_DIR    where the device venv goes (default: <repo>/.venv-device); reused when it exists.
#   PYTHON      (environment) the interpreter that creates the venv (default: python3).
#
# The venv gets only numpy, absl-py, ai-edge-litert and pytest, and kws with --no-deps (so none of
# setup.py's install_requires, TensorFlow included, come in). The script checks that `import
# tensorflow` fails there, then runs tests/test_device*.py with KWS_TEST_EXPORT_DIR=EXPORT_DIR; those
# tests also check in a subprocess that nothing under kws.device imports TensorFlow.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export_dir="${1:?usage: $0 EXPORT_DIR [VENV_DIR]}"
venv="${2:-$repo/.venv-device}"
python="${PYTHON:-python3}"

for f in model_int8.tflite model_float.tflite labels.txt frontend.json; do
  if [[ ! -f "$export_dir/$f" ]]; then
    echo "device_venv.sh: $export_dir/$f is missing; make the export first:" >&2
    echo "  .venv/bin/python export/make_demo.py --workdir=/tmp/kws_demo --output_dir=$export_dir" >&2
    exit 2
  fi
done
export_dir="$(cd "$export_dir" && pwd)"

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet numpy absl-py ai-edge-litert pytest
"$venv/bin/python" -m pip install --quiet --no-deps -e "$repo"

if "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
  echo "device_venv.sh: tensorflow is importable in $venv; the device tests must run without it" >&2
  exit 1
fi
echo "device_venv.sh: tensorflow is not importable in $venv (as intended)"

cd "$repo"
KWS_TEST_EXPORT_DIR="$export_dir" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_device*.py
