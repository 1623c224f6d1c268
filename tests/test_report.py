"""`kws report`: the page of a real tiny run, checked in Python and rendered in headless Chromium.

Once per module: the tone demo (tiny_conv, `python export/make_demo.py`, ~20 s) trained and
exported into <tmp>/run and <tmp>/run/export; kws-stream-eval on it into <tmp>/run/stream (which
writes its page there); kws-eval of the run on new tone speakers where a few clips sit in the
folder of another word (so the model is wrong on them, confidently), which writes eval_test.json and
<tmp>/run/report.html; then `kws report --output=... --max_clips=3`. Chromium comes from
`bash tools/install.sh --dev` (CI runs it); a machine without it fails here, never skips.
"""

from __future__ import annotations

import base64
import html.parser
import io
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import wave

import numpy as np
import pytest

from kws.errors import UserError
from kws.export import demo
from kws.report import page
from kws.training import evaluate

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # trains the tone demo

MOVED = {"alpha": "beta", "beta": "gamma", "gamma": "alpha"}
"""Two clips of each key word are put in the folder of its value."""


def _run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False,
                          cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("report")
    run = root / "run"
    _run(["export/make_demo.py", f"--workdir={root}", f"--output_dir={run / 'export'}",
          "--model=tiny_conv"])
    eval_dir = pathlib.Path(demo.write_tone_dataset(str(root / "eval"), speakers=8, seed=99))
    plan = [(clip, target, source) for source, target in MOVED.items()
            for clip in sorted((eval_dir / source).glob("*.wav"))[:2]]
    moved = {}
    for clip, target, source in plan:
        shutil.move(clip, eval_dir / target / clip.name)
        moved[str(eval_dir / target / clip.name)] = source
    streamed = _run(["-m", "kws.stream_eval.cli", f"--model_dir={run / 'export'}",
                     f"--data_dir={root / 'data'}", "--split=all", "--duration_minutes=0.5",
                     f"--output_dir={run / 'stream'}"])
    evaluated = _run(["-m", "kws.cli", "eval", f"--workdir={run}", f"--data_dir={eval_dir}",
                      "--split=all", "--name=test"])
    reported = _run(["-m", "kws.cli", "report", f"--workdir={run}",
                     f"--output={root / 'page.html'}", "--max_clips=3"])
    return {"root": root, "run": run, "moved": moved, "streamed": streamed.stdout,
            "evaluated": evaluated.stdout, "reported": reported.stdout}


class _Page(html.parser.HTMLParser):
    """Tags with their attributes, and the text, of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for t, attrs in self.tags if t == tag]


def _decode(url: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert url.startswith(prefix), url[:60]
    return base64.b64decode(url[len(prefix):], validate=True)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def _wav(data: bytes) -> tuple[int, int, int, np.ndarray]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return (w.getframerate(), w.getnchannels(), w.getsampwidth(),
                np.frombuffer(w.readframes(w.getnframes()), "<i2"))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: run `bash tools/install.sh --dev` (it installs "
                    "Debian's chromium for this test)")
    return found


def test_eval_records_the_misclassified_clips(made):
    result = json.loads((made["run"] / "eval_test.json").read_text())
    confusion = np.array(result["confusion"])
    assert result["misclassified_count"] == confusion.sum() - np.trace(confusion) >= len(
        made["moved"])
    listed = {c["path"]: c for c in result["misclassified"]}
    for path, word in made["moved"].items():  # the model hears the word, the folder says another
        assert listed[path]["label"] == MOVED[word] and listed[path]["predicted"] == word
    confidence = [c["top3"][0]["score"] for c in result["misclassified"]]
    assert confidence == sorted(confidence, reverse=True)
    for clip in result["misclassified"]:
        scores = [t["score"] for t in clip["top3"]]
        assert scores == sorted(scores, reverse=True) and sum(scores) <= 1 + 1e-5
        assert clip["top3"][0]["label"] == clip["predicted"] != clip["label"]


def test_misclassified_clips_golden():
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.4, 0.35, 0.25]])
    labels = np.array([0, 0, 1, 1])  # rows 1 (predicted 2 at 0.6) and 3 (0 at 0.4) are wrong
    clips = evaluate.misclassified_clips(["a.wav", "", "c.wav", "d.wav"], labels, scores,
                                         ["x", "y", "z"])
    assert [(c["path"], c["label"], c["predicted"]) for c in clips] == [
        ("", "x", "z"), (str(pathlib.Path("d.wav").resolve()), "y", "x")]
    assert clips[1]["top3"] == [{"label": "x", "score": 0.4}, {"label": "y", "score": 0.35},
                                {"label": "z", "score": 0.25}]
    assert len(evaluate.misclassified_clips(["a", "b", "c", "d"], labels, scores, "xyz",
                                            limit=1)) == 1


def test_eval_writes_the_page_with_every_section(made):
    page_path = made["run"] / "report.html"
    assert f"wrote {page_path}\n" in made["evaluated"]  # nothing is "not available"
    text = page_path.read_text()
    parsed = _Page(text)
    assert "http://" not in text and "https://" not in text  # no external resource
    assert not parsed.all("script") and not parsed.all("link")
    sections = {a["id"] for a in parsed.all("section")}
    assert sections == {"glance", "curves", "evaluation", "clips", "export", "stream", "config"}
    assert "not available" not in text
    words = " ".join(parsed.text)
    for label in ("_silence_", "_unknown_", "alpha", "beta", "gamma"):
        assert label in words
    for needle in ("precision", "Confusion matrix", "model_int8.tflite", "tensor arena bytes",
                   "int8_agreement", "DET curve", "miss rate", "data.data_dir"):
        assert needle in words, needle


def test_clip_players_hold_the_clip_files(made):
    parsed = _Page((made["run"] / "report.html").read_text())
    result = json.loads((made["run"] / "eval_test.json").read_text())
    with_file = [c for c in result["misclassified"] if c["path"]][:24]
    cards = [a["data-path"] for a in parsed.all("div") if a.get("class") == "clip"]
    assert cards == [c["path"] for c in result["misclassified"][:24]]
    players = parsed.all("audio")
    assert len(players) == len(with_file) >= len(made["moved"])
    for attrs, clip in zip(players, with_file):
        assert "controls" in attrs
        rate, channels, width, samples = _wav(_decode(attrs["src"], "audio/wav"))
        with wave.open(clip["path"], "rb") as original:
            expected = np.frombuffer(original.readframes(original.getnframes()), "<i2")
        assert (rate, channels, width) == (16000, 1, 2)
        np.testing.assert_array_equal(samples, expected)
    images = parsed.all("img")
    spectrograms = [a for a in images if a.get("class") == "spec"]
    assert len(spectrograms) == len(with_file)
    assert len(images) == len(spectrograms) + 3  # + training curves, DET curve, scores over time
    for attrs in images:
        width, height = _png_size(_decode(attrs["src"], "image/png"))
        assert width >= 200 and height >= 100


def test_report_command_and_max_clips(made):
    out = made["root"] / "page.html"
    assert made["reported"].strip() == f"wrote {out}"
    parsed = _Page(out.read_text())
    assert len(parsed.all("audio")) == 3
    assert "3 of" in " ".join(parsed.text)


def test_stream_eval_writes_its_page(made):
    stream_page = made["run"] / "stream" / "report.html"
    assert f"wrote {stream_page}" in made["streamed"]
    parsed = _Page(stream_page.read_text())
    titles = [a.get("alt", "") for a in parsed.all("img")]
    assert "DET curve (threshold sweep)" in titles
    assert "Scores over time, with the ground truth" in titles


def test_missing_parts_are_not_available(made, tmp_path):
    (tmp_path / "config.json").write_text((made["run"] / "config.json").read_text())
    written = page.write_report(page.ReportConfig(workdir=str(tmp_path)))
    assert written.unavailable == ("Training curves", "Evaluation", "Misclassified clips",
                                   "Export", "Stream evaluation")
    text = (tmp_path / "report.html").read_text()
    assert "not available: no training history" in text
    assert "config.json: every setting of the run" in text


def test_not_a_run_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        page.write_report(page.ReportConfig(workdir=str(tmp_path)))
    with pytest.raises(UserError, match="--export_dir=.* does not exist"):
        (tmp_path / "config.json").write_text("{}")
        page.write_report(page.ReportConfig(workdir=str(tmp_path),
                                            export_dir=str(tmp_path / "nope")))
    done = subprocess.run([sys.executable, "-m", "kws.cli", "report",
                           f"--workdir={tmp_path / 'missing'}"], capture_output=True, text=True,
                          check=False, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"kws report: error: {tmp_path / 'missing'} does not exist; give "
        "--workdir=<a kws-train working directory>")


def test_page_renders_in_headless_chromium(made, tmp_path):
    browser = _chromium()
    page_path = made["run"] / "report.html"
    expected = _Page(page_path.read_text())
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(common + ["--dump-dom", page_path.as_uri()], capture_output=True,
                         text=True, check=False, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = _Page(dom.stdout)
    for tag in ("audio", "img", "table", "section"):
        assert len(rendered.all(tag)) == len(expected.all(tag)) > 0, tag
    assert [a["src"][:40] for a in rendered.all("audio")] == [
        a["src"][:40] for a in expected.all("audio")]
    shot = tmp_path / "page.png"
    done = subprocess.run(common + ["--window-size=1280,2400", f"--screenshot={shot}",
                                    page_path.as_uri()], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert _png_size(shot.read_bytes()) == (1280, 2400)
    from PIL import Image  # pylint: disable=import-outside-toplevel  (matplotlib's dependency)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels[::7], axis=0)
    assert len(colours) > 500  # text, plots and spectrograms, not a blank or error page
    assert np.mean(np.all(pixels == 255, axis=1)) < 0.97
