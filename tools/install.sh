#!/usr/bin/env bash
# Installs everything kws needs on a fresh Debian/Ubuntu machine: Python, the TTS engines that make the
# synthetic default dataset (espeak-ng, flite, festival voices, sox), and a virtual environment at
# .venv with kws and its Python packages. Idempotent: rerunning installs only what is missing.
#
#   bash tools/install.sh          # kws + TensorFlow + LiteRT
#   bash tools/install.sh --dev    # also the test tools (pytest, headless chromium)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras="device,tts"
[[ "${1:-}" == "--dev" ]] && extras="dev,device,tts"

apt_packages=(python3 python3-venv python3-pip espeak-ng flite festival festvox-kallpc16k
              festvox-kdlpc16k festvox-us-slt-hts sox libsndfile1)
# --dev: a headless browser for tests/test_report.py, which renders `kws report`'s page.
[[ "${1:-}" == "--dev" ]] && apt_packages+=(chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  echo "install.sh: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${extras}]"
echo "install.sh: ready: $(.venv/bin/python -c 'from kws import quiet; quiet.install(); import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)')"
