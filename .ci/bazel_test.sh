#!/usr/bin/env bash
# Runs the fast tests under real Bazel, fully offline:  bash .ci/bazel_test.sh [VENV_PYTHON]
#
#   VENV_PYTHON  the Python of the project's virtualenv (tensorflow, numpy, absl-py, pytest, ...);
#                default: <repo>/.venv/bin/python. Bazel runs every py_test/py_binary with it
#                (third-party packages are not Bazel targets, see BUILD).
#   KWS_SHARED_DATA  (environment) the shared data folder; default: <repo>/../shared/data.
#   BAZEL_ARGS   (environment) extra `bazel test` options, e.g. BAZEL_ARGS=--nocache_test_results.
#   PYTEST_ADDOPTS  (environment) handed to pytest inside each py_test; default: -m 'not slow', so
#                single tests marked @pytest.mark.slow are left out like files tagged "slow".
#
# The command it runs (from the repo root):
#   PATH=$VENV/bin:$PATH bazel test --config=offline --python_path=$VENV_PYTHON \
#       --test_env=KWS_SHARED_DATA=$KWS_SHARED_DATA --test_env=PYTEST_ADDOPTS="-m 'not slow'" \
#       --test_tag_filters=-slow //:all
# //:all = every target of the single top-level BUILD (libraries and binaries are built too);
# tests tagged "slow" are left out. Prints Bazel's summary, then "bazel: N passed, N failed";
# exits non-zero when anything fails or no test ran. Installs Debian's bazel-bootstrap (and its
# mock repositories, bazel-bootstrap-source) when missing; that needs root and the Debian mirror.
# Bazel keeps its server and output base in ~/.cache/bazel (per checkout); under CI=true the server
# is shut down at the end.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_PYTHON="${1:-$REPO/.venv/bin/python}"
# Absolute, but not through realpath: the venv's bin/python symlink is what makes it the venv.
[[ "$VENV_PYTHON" = /* ]] || VENV_PYTHON="$PWD/$VENV_PYTHON"
cd "$REPO"
if [[ ! -x "$VENV_PYTHON" ]]; then
  echo "bazel_test.sh: no Python at $VENV_PYTHON (usage: .ci/bazel_test.sh VENV_PYTHON)" >&2
  exit 2
fi
if ! "$VENV_PYTHON" -c "import pytest" 2>/dev/null; then
  echo "bazel_test.sh: $VENV_PYTHON has no pytest (pip install -e '.[dev]')" >&2
  exit 2
fi

SHARED="${KWS_SHARED_DATA:-$REPO/../shared/data}"
if [[ ! -d "$SHARED" ]]; then
  echo "bazel_test.sh: no shared data at $SHARED (set KWS_SHARED_DATA)" >&2
  exit 2
fi
SHARED="$(cd "$SHARED" && pwd)"

MOCK_REPOS=/usr/src/bazel-bootstrap/mock_repos
if ! command -v bazel >/dev/null || [[ ! -d "$MOCK_REPOS" ]]; then
  echo "bazel_test.sh: installing Debian's bazel-bootstrap and bazel-bootstrap-source" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap bazel-bootstrap-source
fi
for repo in "$MOCK_REPOS"/*; do   # .bazelrc must override each of them, or Bazel goes online
  if ! grep -q "^build:offline --override_repository=$(basename "$repo")=$repo\$" .bazelrc; then
    echo "bazel_test.sh: .bazelrc lacks the offline override for $(basename "$repo")" >&2
    exit 2
  fi
done

# Bazel's Python stub starts with `#!/usr/bin/env python`: the venv's bin/ first on PATH gives it
# one (its own interpreter is --python_path). Tests inherit this PATH.
export PATH="$(dirname "$VENV_PYTHON"):$PATH"

ADDOPTS="${PYTEST_ADDOPTS-"-m 'not slow'"}"
# The sandbox's $HOME is read-only: matplotlib would warn (on stderr, which the quiet-console test
# reads) that it cannot write its cache there; give it a writable folder instead.
# kws-infer's speech-embedding front end, where tools/install.sh put it (the sandbox's HOME is not
# the user's).
EMBEDDING_DIR="$("$VENV_PYTHON" -c 'from kws.device import embedding; print(embedding.FRONTEND_CACHE)')"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
start=$SECONDS
set +e
# shellcheck disable=SC2086  # BAZEL_ARGS is a list of options
bazel test --config=offline --python_path="$VENV_PYTHON" \
  --test_env=KWS_SHARED_DATA="$SHARED" --test_env=PYTEST_ADDOPTS="$ADDOPTS" \
  --test_env=MPLCONFIGDIR=/tmp/kws-bazel-matplotlib \
  --test_env=KWS_SPEECH_EMBEDDING_DIR="$EMBEDDING_DIR" \
  --test_tag_filters=-slow \
  --color=no --curses=no --show_progress_rate_limit=30 ${BAZEL_ARGS:-} \
  //:all 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
if [[ "${CI:-}" == "true" ]]; then
  bazel shutdown >/dev/null 2>&1 || true
fi

passed=$(grep -cE '^//\S+ +(\(cached\) )?PASSED' "$LOG" || true)
bad='FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY'
failed=$(grep -cE "^//\S+ +(\(cached\) )?($bad)" "$LOG" || true)
echo "bazel test took $((SECONDS - start)) s (exit code $rc)"
echo "bazel: $passed passed, $failed failed"
if [[ $rc -ne 0 ]]; then
  exit "$rc"
fi
if [[ $passed -eq 0 ]]; then
  echo "bazel_test.sh: no test ran" >&2
  exit 1
fi
