"""A quiet console (kws.quiet): no TensorFlow/LiteRT start-up lines from any command, unless asked.

Every console script of setup.py runs `--help`; the tone demo is trained and exported by
`python export/make_demo.py` (tiny_conv, one epoch: ~45 s), exported again by `kws-export`, and a
real clip is scored by `kws-infer`, each in a subprocess whose stdout and stderr must hold no line of
TF's C++ log format, no oneDNN notice and no tf.lite.Interpreter deprecation. With KWS_TF_LOGS=1 the
lines come back.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from kws import quiet

from conftest import REPO_ROOT

# What each console script of setup.py runs (`python -c`, so that the import lines name the modules
# for tools/gen_build.py).
ENTRY_POINTS = {
    "kws": "from kws import cli\ncli.main()",
    "kws-train": "from kws import cli\ncli.train()",
    "kws-eval": "from kws import cli\ncli.evaluate()",
    "kws-export": "from kws.export import cli\ncli.run()",
    "kws-infer": "from kws.device import cli\ncli.run()",
    "kws-stream-eval": "from kws.stream_eval import cli\ncli.run()",
}
# `python export/make_demo.py`: its main under absl, as its `__main__` block runs it.
_MAKE_DEMO = "from absl import app\nfrom export import make_demo\napp.run(make_demo.main)"

NOISE = [
    re.compile(r"^[IWEF]\d{4} ", re.MULTILINE),  # absl / TF C++: I0000 00:00:... file.cc:12] ...
    re.compile(r"^\d{4}-\d\d-\d\d .*: [IWEF] tensorflow/", re.MULTILINE),  # older TF C++ format
    re.compile(r"absl::InitializeLog"),
    re.compile(r"oneDNN"),
    re.compile(r"cuInit|cuda drivers"),
    re.compile(r"tf\.lite\.Interpreter is deprecated"),
    re.compile(r"fully_quantize: "),
    re.compile(r"XNNPACK delegate"),
]


def _run(code: str, *args: str, logs: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in (quiet.ENV_VAR, "TF_CPP_MIN_LOG_LEVEL")}
    if logs is not None:
        env[quiet.ENV_VAR] = logs
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False, cwd=REPO_ROOT, env=env)


def _assert_quiet(done: subprocess.CompletedProcess, what: str) -> None:
    assert done.returncode == 0, f"{what} failed:\n{done.stderr[-3000:]}"
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        for pattern in NOISE:
            found = pattern.search(text)
            assert found is None, (f"{what} printed a start-up line on {stream}: "
                                   f"{text[max(found.start() - 200, 0):found.end() + 200]!r}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> pathlib.Path:
    """The tone demo's working folder (run/ and export/ inside), made by the script, checked quiet."""
    work = tmp_path_factory.mktemp("quiet_demo")
    done = _run(_MAKE_DEMO, f"--workdir={work}", f"--output_dir={work / 'export'}",
                "--model=tiny_conv", "--epochs=1")
    _assert_quiet(done, "python export/make_demo.py")
    assert f"wrote {work / 'export'}" in done.stdout
    return work


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_help_is_quiet(name):
    done = _run(ENTRY_POINTS[name], "--help")
    _assert_quiet(done, f"{name} --help")
    heading = {"kws": "usage: kws", "kws-train": "kws train: ", "kws-eval": "kws eval: "}
    assert done.stdout.startswith(heading.get(name, f"{name}: ")), done.stdout[:200]


def test_make_demo_export_and_infer_are_quiet(demo, shared_data, tmp_path):
    assert (demo / "export" / "model_int8.tflite").is_file()  # made quietly by the fixture
    out = tmp_path / "export"
    done = _run(ENTRY_POINTS["kws-export"], f"--workdir={demo / 'run'}", f"--output_dir={out}",
                "--calibration_clips=20", "--latency_runs=5")
    _assert_quiet(done, "kws-export")
    assert (out / "model_int8.tflite").is_file() and f"wrote {out}" in done.stdout
    clip = sorted((shared_data / "speech_commands_test_v0.02_dev" / "yes").glob("*.wav"))[0]
    done = _run(ENTRY_POINTS["kws-infer"], f"--model_dir={out}", str(clip))
    _assert_quiet(done, "kws-infer")
    assert done.stdout.startswith(f"{clip}  ")


def test_kws_tf_logs_brings_the_lines_back():
    done = _run(ENTRY_POINTS["kws-train"], "--help", logs="1")
    assert done.returncode == 0, done.stderr[-3000:]
    # TF's C++ INFO lines (which ones depends on the CPU: oneDNN's only where TF enables it, e.g.
    # with AVX-512; the missing-CUDA notice on any machine without a GPU driver).
    assert re.search(r"^I\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\] ", done.stderr, re.M)
    assert "absl::InitializeLog" in done.stderr
    # The C++ line comes from TF's own log level, which KWS_TF_LOGS=1 leaves at TF's default.
    assert re.search(r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
                     done.stderr)


def test_a_bad_kws_tf_logs_value_is_one_clear_line():
    done = _run(ENTRY_POINTS["kws-infer"], "--help", logs="yes")
    assert done.returncode == 1
    assert done.stderr == ("kws-infer: error: KWS_TF_LOGS='yes': set it to 1 to show TensorFlow's "
                           "start-up logs, or to 0 (or unset it) to hide them\n")


_NOTICE_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796139634.645653    7294 port.cc:153] oneDNN custom operations are on. You may\n"
    "I0000 00:00:1796139634.646115    7294 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n"
    "E0000 00:00:1796139638.073778    7294 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
    "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8\n"
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
)
_REAL_LINES = ("E0000 00:00:1796139638.1    7294 op_kernel.cc:1857] OP_REQUIRES failed at x.cc\n"
               "Traceback (most recent call last):\n")


def test_native_stderr_drops_the_notices_only(capfd, monkeypatch):
    monkeypatch.delenv(quiet.ENV_VAR, raising=False)
    first, second = _REAL_LINES.splitlines(keepends=True)
    text = first + _NOTICE_LINES + second
    with quiet.native_stderr():
        os.write(2, text[:150].encode())  # a line can come in two writes
        os.write(2, text[150:].encode())
    assert capfd.readouterr().err == _REAL_LINES


def test_native_stderr_keeps_what_a_failing_block_printed(capfd, monkeypatch):
    monkeypatch.delenv(quiet.ENV_VAR, raising=False)
    with pytest.raises(RuntimeError, match="boom"), quiet.native_stderr():
        os.write(2, (_NOTICE_LINES + "the reason it failed\n").encode())
        raise RuntimeError("boom")
    assert capfd.readouterr().err == "the reason it failed\n"


def test_native_stderr_lets_everything_through_with_kws_tf_logs(capfd, monkeypatch):
    monkeypatch.setenv(quiet.ENV_VAR, "1")
    with quiet.native_stderr():
        os.write(2, _NOTICE_LINES.encode())
    assert capfd.readouterr().err == _NOTICE_LINES
