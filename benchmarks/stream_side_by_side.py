r"""Misses at a false-accept budget on one long recording of held-out real speakers, side by side:
the shipped pretrained model, any kws export, and the MLPerf Tiny KWS reference (and, with
--embedding_heads, a frozen speech embedding + head: embedding_stream.py).

    python benchmarks/stream_side_by_side.py --export_dirs=runs/stream_v1/export \
        --data_dir=runs/rv_x6/merged_data --split=test \
        --negative_dirs=../shared/data/arabic_speech_commands_negatives --testing_percentage=30 \
        --duration_minutes=60 --output_dir=runs/stream_bench

The recording is made as kws-stream-eval makes it (kws.stream_eval.recording): keyword clips of
--split (the test split of benchmarks/real_voices.py's merged tree: 67 real speakers no kws run
heard), other words of that split plus the --negative_dirs clips of that split's speakers (Arabic
speech of speakers held out by the same rule training used), over the --noise_dirs recordings at
5/10/20 dB SNR. Every model hears the same samples.

For each model the posteriors are computed once (kws models: the stateful stream_int8 model at its
own 40 ms hop, as kws-infer runs it; the reference: its int8 window model every --hop_ms over the
last second, each window scaled to its peak and given its own MFCC, as its README says). Then:

* DET: the device Detector swept over thresholds and averaging windows; for each budget the
  fewest misses with false accepts at or under it. This is the best each model can do on this
  recording (the threshold is chosen on the test audio itself), the fair way to compare curves;
* calibrated: a kws export's (or a stream-trained embedding head's: embedding_stream_head.py)
  detector.json, chosen on a validation stream, never this one, as kws-infer uses it by default:
  the miss rate a user gets, and the FA/h it really gives here.

Writes results.json and det.png (all curves) into --output_dir.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import dataclasses
import json
import os
import time

import numpy as np
from absl import app
from absl import flags

import embedding_stream  # beside this script (benchmarks/ is sys.path[0] when it runs)
import mlperf_ref
from kws.data import speech_commands as sc
from kws.device import detect
from kws.device import stream
from kws.export import runner
from kws.pretrained import DEFAULT as PRETRAINED_NAME
from kws.pretrained import model_dir as pretrained_dir
from kws.stream_eval import calibrate
from kws.stream_eval import metrics as sm
from kws.stream_eval import recording as rec
from kws.stream_eval import sources

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED_DATA = os.environ.get("KWS_SHARED_DATA",
                              os.path.join(os.path.dirname(_REPO), "shared", "data"))

_EXPORT_DIRS = flags.DEFINE_list("export_dirs", [], "kws-export folders (stream_int8 is run).")
_EMBEDDING_HEADS = flags.DEFINE_list("embedding_heads", [], "embedding_real_voices.py --save_head "
                                     "folders (a frozen speech embedding + head, float).")
_DATA_DIR = flags.DEFINE_string("data_dir", "runs/rv_x6/merged_data", "Keyword and other-word "
                                "clips (the merged tree of benchmarks/real_voices.py).")
_SPLIT = flags.DEFINE_enum("split", "test", list(sc.SPLITS) + ["all"], "Which of its clips.")
_NEGATIVE_DIRS = flags.DEFINE_list(
    "negative_dirs", [os.path.join(_SHARED_DATA, "arabic_speech_commands_negatives")],
    "More other speech; the clips of --split's speakers join the other words.")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0, "Speaker split of "
                                            "--negative_dirs (as in training).")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 30.0, "Speaker split of "
                                         "--negative_dirs (as in training).")
_NOISE_DIRS = flags.DEFINE_list("noise_dirs", [os.path.join(_SHARED_DATA, "_background_noise_"),
                                               os.path.join(_SHARED_DATA,
                                                            "_background_noise_more")],
                                "Folders of real background noise under the words.")
_DURATION_MINUTES = flags.DEFINE_float("duration_minutes", 60.0, "Length of the recording.")
_UNKNOWN_SHARE = flags.DEFINE_float("unknown_share", 0.45, "Share of events that are other words.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the recording.")
_HOP_MS = flags.DEFINE_integer("hop_ms", 40, "The reference runs every hop_ms.")
_BUDGETS = flags.DEFINE_list("budgets", ["0.5", "1", "2", "5"], "False accepts per hour.")
_NO_REFERENCE = flags.DEFINE_bool("no_reference", False, "Leave the reference out.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/stream_bench", "Where results go.")


HIGH_THRESHOLDS = (0.999, 0.9995, 0.9999)
"""Swept beyond calibrate's defaults: a float softmax (the embedding heads) can put other words at
0.995 and above, and the DET of such a model would end before its low budgets."""


class ReferenceSource:
    """The MLPerf Tiny reference (int8, its own features) on windows every hop_ms."""

    def __init__(self, hop_ms: int, batch_windows: int = 512):
        self.labels = mlperf_ref.LABELS
        self.sample_rate_hz, self.clip_samples = 16000, mlperf_ref.FEATURES.clip_samples
        self.hop_samples = stream.hop_samples(hop_ms, self.sample_rate_hz)
        self.description = f"MLPerf Tiny KWS reference (int8, window every {hop_ms} ms)"
        self._classifier = runner.TfliteClassifier(mlperf_ref.read(mlperf_ref.MODEL_PATH))
        self._batch = batch_windows

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ends = sources.window_ends(len(samples), self.clip_samples, self.hop_samples)
        windows = np.lib.stride_tricks.sliding_window_view(
            samples, self.clip_samples)[ends[0] - self.clip_samples::self.hop_samples]
        out = []
        for i in range(0, len(ends), self._batch):
            batch = windows[i:i + self._batch].astype(np.float32) / 32768.0
            out.append(self._classifier.predict(mlperf_ref.features(batch)[..., None]))
        return 1000.0 * ends / self.sample_rate_hz, np.concatenate(out).astype(np.float32)


def _recording() -> rec.Recording:
    data = sc.DataConfig(data_dir=_DATA_DIR.value, label_mode="all_words",
                         validation_percentage=_VALIDATION_PERCENTAGE.value,
                         testing_percentage=_TESTING_PERCENTAGE.value)
    pools = rec.clip_pools(data, _SPLIT.value, sc.SPEECH_COMMANDS_KEYWORDS)
    merged = rec.with_negatives(pools, data, _SPLIT.value, _NEGATIVE_DIRS.value)
    extra = merged.unknown[len(pools.unknown):]
    noise = tuple(os.path.join(d, n) for d in _NOISE_DIRS.value for n in sorted(os.listdir(d))
                  if n.lower().endswith(sc.AUDIO_EXTENSIONS))
    config = rec.RecordingConfig(duration_s=60.0 * _DURATION_MINUTES.value, seed=_SEED.value,
                                 unknown_share=_UNKNOWN_SHARE.value)
    print(f"recording: {len(pools.unknown)} other-word clips + {len(extra)} from "
          f"--negative_dirs, {sum(len(v) for v in pools.keywords.values())} keyword clips, "
          f"{len(noise)} noise files")
    return rec.make_recording(merged, noise, 16000, config)


def _det(labels, times, post, recording, base: detect.DetectorConfig) -> list[tuple]:
    """(average_window_ms, threshold, miss rate, FA/h) of every swept detector."""
    keywords = sm.keywords_of(labels, base)
    rows = []
    for window in calibrate.DEFAULT_AVERAGE_WINDOWS_MS + (500.0,):
        for threshold in calibrate.DEFAULT_THRESHOLDS + HIGH_THRESHOLDS:
            config = dataclasses.replace(base, average_window_ms=window, threshold=threshold,
                                         label_thresholds=())
            found = calibrate.run_fast(labels, config, times, post)
            m, _ = sm.score(recording.events, found, keywords, recording.duration_s, 1000.0)
            rows.append((window, threshold, m.miss_rate, m.fa_per_hour))
    return rows


def _best(rows, budget):
    within = [r for r in rows if r[3] <= budget + 1e-9]
    return min(within, key=lambda r: (r[2], r[3])) if within else None


def main(argv):
    del argv
    budgets = [float(b) for b in _BUDGETS.value]
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    recording = _recording()
    keyword_events = sum(e.label in sc.SPEECH_COMMANDS_KEYWORDS for e in recording.events)
    print(f"{recording.duration_s / 60:.0f} min, {keyword_events} keywords, "
          f"{len(recording.events) - keyword_events} other words; one FA = "
          f"{3600 / recording.duration_s:.2g} FA/h")
    models = [(f"shipped {PRETRAINED_NAME}", lambda: sources.DeviceSource(
        pretrained_dir(), "stream_int8", 40), pretrained_dir())]
    models += [(e, lambda e=e: sources.DeviceSource(e, "stream_int8", 40), e)
               for e in _EXPORT_DIRS.value]
    models += [(f"embedding head {d}", lambda d=d: embedding_stream.EmbeddingSource(d), d)
               for d in _EMBEDDING_HEADS.value]
    if not _NO_REFERENCE.value:
        models.append(("MLPerf Tiny reference", lambda: ReferenceSource(_HOP_MS.value), None))
    results = []
    header = f"{'model':<44}" + "".join(f"{'<=' + format(b, 'g') + ' FA/h':>11}" for b in budgets)
    lines = [header + f"  {'calibrated detector':>28}"]
    for name, make, folder in models:
        started = time.monotonic()
        source = make()
        times, post = source.posteriors(recording.samples)
        rows = _det(source.labels, times, post, recording, detect.DetectorConfig())
        entry = {"model": name, "description": source.description,
                 "model_seconds": round(time.monotonic() - started, 1),
                 "det": [dict(zip(("average_window_ms", "threshold", "miss_rate", "fa_per_hour"),
                                  r)) for r in rows],
                 "at_budget": {}}
        cells = []
        for b in budgets:
            best = _best(rows, b)
            entry["at_budget"][str(b)] = None if best is None else dict(
                zip(("average_window_ms", "threshold", "miss_rate", "fa_per_hour"), best))
            cells.append(f"{'n/a' if best is None else format(100 * best[2], '.1f') + ' %':>11}")
        calibrated = "none"
        found = detect.load_detector_file(folder) if folder else None
        if found is not None:
            config, data = found
            hits = calibrate.run_fast(source.labels, config, times, post)
            m, _ = sm.score(recording.events, hits, sm.keywords_of(source.labels, config),
                            recording.duration_s, 1000.0)
            budget = data.get("fa_per_hour_budget")
            entry["calibrated"] = {"budget": budget, "miss_rate": m.miss_rate,
                                   "fa_per_hour": m.fa_per_hour, "detector": config.to_dict()}
            calibrated = f"{100 * m.miss_rate:.1f} % at {m.fa_per_hour:.1f} FA/h (for {budget:g})"
        lines.append(f"{name[-44:]:<44}" + "".join(cells) + f"  {calibrated:>28}")
        print(lines[-1], flush=True)
        results.append(entry)
    print("\nmisses (share of keywords) at <= N false accepts per hour\n" + "\n".join(lines))
    with open(os.path.join(_OUTPUT_DIR.value, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"recording": {"duration_s": recording.duration_s, "keywords": keyword_events,
                                 "other_words": len(recording.events) - keyword_events,
                                 "seed": _SEED.value, "data_dir": _DATA_DIR.value,
                                 "split": _SPLIT.value, "negative_dirs": _NEGATIVE_DIRS.value},
                   "models": results}, f, indent=2)
    _plot(results, os.path.join(_OUTPUT_DIR.value, "det.png"), recording.duration_s)


def _plot(results, path, duration_s):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for entry in results:
        points = sorted((r["fa_per_hour"], r["miss_rate"]) for r in entry["det"])
        envelope, best = [], 1.1
        for fa, miss in points:  # the lower envelope: fewest misses at <= each FA/h
            if miss < best:
                best = miss
                envelope.append((max(fa, 3600 / duration_s / 2), miss))
        ax.step(*zip(*envelope), where="post", label=entry["model"][-40:])
        if "calibrated" in entry:
            c = entry["calibrated"]
            ax.plot(max(c["fa_per_hour"], 3600 / duration_s / 2), c["miss_rate"], "k*",
                    markersize=10)
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("miss rate")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("held-out real speakers; star: calibrated detector")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    app.run(main)
