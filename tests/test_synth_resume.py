"""`kws synth` resumes: a killed run continues where it stopped and ends byte for byte like an
uninterrupted one; a journal of other settings, or a damaged one, is a clear error, never mixed in.

espeak-ng only (apt-get install espeak-ng), as tests/test_synth.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kws.synth import dataset as synth
from kws.synth import journal

from conftest import tree_digest

WORDS = ("yes", "no", "up")


def config_for(output_dir, **overrides) -> synth.SynthConfig:
    settings = dict(output_dir=str(output_dir), words=WORDS, num_speakers=12, seed=3,
                    engines=("espeak-ng",), validation_percentage=20.0, testing_percentage=20.0,
                    num_workers=1, background_noise_duration_ms=2000)
    settings.update(overrides)
    return synth.SynthConfig(**settings)


def journal_lines(out) -> list[dict]:
    with open(os.path.join(out, journal.JOURNAL_NAME), encoding="utf-8") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def interrupt_after(monkeypatch, n: int) -> list[str]:
    """Makes the next synthesis stop with KeyboardInterrupt (what Ctrl-C raises) once ``n``
    speakers are done; returns the hashes of those it synthesized."""
    real_task = synth._speaker_task
    calls = []

    def task(engine, speaker, config):
        if len(calls) == n:
            raise KeyboardInterrupt
        calls.append(speaker.hash)
        return real_task(engine, speaker, config)

    monkeypatch.setattr(synth, "_speaker_task", task)
    return calls


def count_calls(monkeypatch) -> list[str]:
    """From now on, the hashes of the speakers synthesized (in full)."""
    real_task = synth._speaker_task
    calls = []
    monkeypatch.setattr(synth, "_speaker_task",
                        lambda e, s, c: calls.append(s.hash) or real_task(e, s, c))
    return calls


@pytest.fixture(scope="module")
def reference(tmp_path_factory, espeak):
    out = tmp_path_factory.mktemp("whole") / "data"
    synth.synthesize_dataset(config_for(out))
    return tree_digest(out)


def test_interrupted_run_redoes_only_unfinished_speakers(tmp_path, monkeypatch, reference):
    out = tmp_path / "data"
    calls = interrupt_after(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_dataset(config_for(out))
    assert not os.path.exists(out / synth.MANIFEST_NAME)
    lines = journal_lines(out)
    assert [line["speaker"] for line in lines[1:]] == calls  # one worker: in order, all recorded

    monkeypatch.undo()
    resumed = count_calls(monkeypatch)
    summary = synth.synthesize_dataset(config_for(out))
    assert not set(resumed) & set(calls) and len(resumed) == 12 - 5
    assert summary.num_speakers == 12
    assert not os.path.exists(out / journal.JOURNAL_NAME)
    assert tree_digest(out) == reference


def test_killed_process_resumes_to_the_same_bytes(tmp_path, reference):
    """A real SIGKILL of `kws synth` (each speaker slowed down, so that the kill lands mid-run)."""
    out = tmp_path / "data"
    script = (
        "import sys, time\n"
        "from kws.synth import dataset\n"
        "real = dataset._speaker_task\n"
        "def slow(*args):\n"
        "    time.sleep(0.3)\n"
        "    return real(*args)\n"
        "dataset._speaker_task = slow\n"
        "from kws import cli\n"
        "sys.argv = ['kws', 'synth'] + sys.argv[1:]\n"
        "cli.main()\n")
    flags = [f"--output_dir={out}", "--words=" + ",".join(WORDS), "--num_speakers=12", "--seed=3",
             "--engines=espeak-ng", "--validation_percentage=20", "--testing_percentage=20",
             "--num_workers=1", "--background_noise_duration_ms=2000"]
    proc = subprocess.Popen([sys.executable, "-c", script] + flags, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(out / journal.JOURNAL_NAME) and len(journal_lines(out)) >= 4:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = len(journal_lines(out)) - 1
    assert 3 <= finished_before < 12 and not os.path.exists(out / synth.MANIFEST_NAME)

    done = subprocess.run([sys.executable, "-m", "kws.cli", "synth"] + flags, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {finished_before} of 12 speakers done" in done.stderr
    assert tree_digest(out) == reference


def test_other_settings_are_an_error_and_overwrite_starts_again(tmp_path, monkeypatch, espeak):
    out = tmp_path / "data"
    interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_dataset(config_for(out))
    monkeypatch.undo()
    with pytest.raises(journal.StaleJournal, match=r"unfinished synthesis of other settings \(config, "
                                                   r"speakers differ\)"):
        synth.synthesize_dataset(config_for(out, seed=4))
    assert len(journal_lines(out)) == 3  # untouched
    summary = synth.synthesize_dataset(config_for(out, seed=4, words=("down",), overwrite=True))
    assert sorted(os.listdir(out)) == sorted(["down", synth.BACKGROUND_NOISE_DIR, synth.MANIFEST_NAME,
                                               "testing_list.txt", "validation_list.txt"])
    assert summary.clips_per_word == 12


def test_journal_cut_short_by_a_kill_and_damaged_journals(tmp_path):
    path = tmp_path / journal.JOURNAL_NAME
    path.write_text('{"fingerprint": {"a": 1}}\n{"paths": ["yes/x.wav"], "speaker": "x"}\n'
                    '{"paths": ["yes/y.w')
    fingerprint, done = journal.read(str(path))
    assert fingerprint == {"a": 1} and done == {"x": ["yes/x.wav"]}  # y was being written: redone
    path.write_text('{"fingerprint": {"a": 1}}\n{"paths": ["yes/x.w\n{"paths": [], "speaker": "y"}\n')
    with pytest.raises(ValueError, match="line 2 is damaged"):
        journal.read(str(path))
    path.write_text('{"speaker": "x", "paths": []}\n')
    with pytest.raises(ValueError, match="no settings line"):
        journal.read(str(path))


def test_a_recorded_speaker_whose_files_vanished_is_redone(tmp_path, monkeypatch, reference):
    out = tmp_path / "data"
    calls = interrupt_after(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_dataset(config_for(out))
    os.remove(out / journal_lines(out)[1]["paths"][0])
    monkeypatch.undo()
    redone = count_calls(monkeypatch)
    synth.synthesize_dataset(dataclasses.replace(config_for(out), num_workers=2))
    assert calls[0] in redone and len(redone) == 12 - 3
    assert tree_digest(out) == reference
