r"""Why a stream detector misses keywords: per keyword, per SNR, and whether the model never
recognises the word or recognises it too briefly for the detector.

    python benchmarks/stream_miss_diagnosis.py --model_dir=kws/pretrained/speech_embedding_head \
        --data_dir=runs/rv_valu/merged_data --output_dir=runs/miss_diagnosis_test
    python benchmarks/stream_miss_diagnosis.py --model_dir=kws/pretrained/speech_embedding_head \
        --data_dir=runs/rv_valu/merged_data --real_speakers_of=train \
        --output_dir=runs/miss_diagnosis_train

The recording is stream_side_by_side.py's (the same flags and defaults: the held-out speakers of
--split over real noise at 5/10/20 dB SNR). With --real_speakers_of=S it is made instead from the
real speakers of split S only (benchmarks/real_voices.py names their clips real<k>_<speaker>; one
copy each, no synthetic voices), with every clip of --negative_dirs: how the model does on the
speakers it was trained on, in the same noise. The model runs as kws-infer runs it (any export or
speech-embedding folder). Printed and written to results.json:

* misses per keyword and per SNR at --detectors (average window ms : threshold), and their false
  accepts;
* keyword events whose own posterior ever reaches --raw_threshold at one step ("recognised"), and
  how many steps it stays there; the same for the keyword posteriors on other-word events. A
  detector that averages over a window separates words that fire long from blips that fire briefly;
  a word that never reaches the threshold is lost to any detector;
* a duration rule instead of the average (count_rule: k of the last n steps >= a threshold), swept
  on this recording: the fewest misses at 1 / 2 / 5 / 20 FA/h.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json
import os
import re

import numpy as np
from absl import app
from absl import flags

import stream_side_by_side as sbs  # its recording flags (data_dir, split, negative_dirs, ...)
from kws.device import detect
from kws.stream_eval import calibrate
from kws.stream_eval import metrics as sm
from kws.stream_eval import sources

_MODEL_DIR = flags.DEFINE_string("model_dir", "kws/pretrained/speech_embedding_head",
                                 "Export or speech-embedding folder.")
_VARIANT = flags.DEFINE_string("variant", "stream_int8", "Variant of an export folder.")
_REAL_SPEAKERS_OF = flags.DEFINE_string("real_speakers_of", "", "Make the recording from this "
                                        "split's real speakers only (module docstring).")
_DETECTORS = flags.DEFINE_list("detectors", ["600:0.875", "400:0.98", "600:0.65"],
                               "average_window_ms:threshold pairs to score.")
_RAW_THRESHOLD = flags.DEFINE_float("raw_threshold", 0.9, "A step 'recognises' at this.")
_LISTS = ("validation_list.txt", "testing_list.txt")


def real_speaker_tree(src: str, dst: str, split: str) -> str:
    """A tree of symlinks to the real (``real_<speaker>``) clips of ``split`` in ``src``."""
    held = {}
    for name, which in zip(_LISTS, ("validation", "test")):
        with open(os.path.join(src, name), encoding="utf-8") as f:
            held.update({line.strip(): which for line in f if line.strip()})
    for label in sorted(os.listdir(src)):
        folder = os.path.join(src, label)
        if not os.path.isdir(folder) or label.startswith("_"):
            continue
        names = [n for n in sorted(os.listdir(folder)) if re.match(r"real_", n)
                 and held.get(f"{label}/{n}", "train") == split]
        if names:
            os.makedirs(os.path.join(dst, label), exist_ok=True)
        for n in names:
            target = os.path.join(dst, label, n)
            if not os.path.lexists(target):
                os.symlink(os.path.abspath(os.path.join(folder, n)), target)
    return dst


def runs_at(values: np.ndarray, threshold: float) -> int:
    """Steps of the longest run of ``values`` at or above ``threshold``."""
    best = run = 0
    for above in values >= threshold:
        run = run + 1 if above else 0
        best = max(best, run)
    return best


def count_rule(times: np.ndarray, post: np.ndarray, labels, steps: int, count: int, tau: float,
               suppression_ms: float = 1000.0) -> list[detect.Detection]:
    """Detections of a duration rule: a keyword fires when its posterior was >= ``tau`` on at
    least ``count`` of the last ``steps`` steps (the keyword with most such steps; then nothing for
    ``suppression_ms``)."""
    above = np.vstack([np.zeros((1, post.shape[1])), post >= tau]).cumsum(axis=0)
    found, last = [], -np.inf
    columns = [i for i, label in enumerate(labels) if not label.startswith("_")]
    for i in range(steps - 1, len(times)):
        counts = above[i + 1, columns] - above[i + 1 - steps, columns]
        best = int(np.argmax(counts))
        if counts[best] >= count and times[i] - last >= suppression_ms:
            found.append(detect.Detection(time_ms=float(times[i]), label=labels[columns[best]],
                                          score=float(counts[best] / steps)))
            last = times[i]
    return found


def count_rule_sweep(recording, times, post, labels, keywords, budgets=(1.0, 2.0, 5.0, 20.0)):
    """The fewest misses of the duration rule at each budget (swept on this recording, as the DET
    of stream_side_by_side.py sweeps the averaging detector)."""
    best = {}
    for steps in (4, 6, 8, 10, 12):
        for count in range(2, steps + 1):
            for tau in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
                m, _ = sm.score(recording.events, count_rule(times, post, labels, steps, count, tau),
                                keywords, recording.duration_s, 1000.0)
                for b in budgets:
                    if m.fa_per_hour <= b and m.miss_rate < best.get(str(b), {"miss_rate": 2})[
                            "miss_rate"]:
                        best[str(b)] = {"miss_rate": m.miss_rate, "fa_per_hour": m.fa_per_hour,
                                        "steps": steps, "count": count, "threshold": tau}
    return best


def main(argv):
    del argv
    os.makedirs(sbs._OUTPUT_DIR.value, exist_ok=True)
    if _REAL_SPEAKERS_OF.value:
        tree = real_speaker_tree(sbs._DATA_DIR.value, os.path.join(
            sbs._OUTPUT_DIR.value, "real_speakers"), _REAL_SPEAKERS_OF.value)
        flags.FLAGS.data_dir, flags.FLAGS.split = tree, "all"
    recording = sbs._recording()
    source = sources.DeviceSource(_MODEL_DIR.value, _VARIANT.value, 40)
    times, post = source.posteriors(recording.samples)
    labels = source.labels
    keywords = [label for label in labels if not label.startswith("_")]
    result = {"model_dir": _MODEL_DIR.value, "real_speakers_of": _REAL_SPEAKERS_OF.value,
              "detectors": {}}
    for pair in _DETECTORS.value:
        window, threshold = (float(v) for v in pair.split(":"))
        config = detect.DetectorConfig(average_window_ms=window, threshold=threshold,
                                       ignore_labels=tuple(sorted(set(labels) - set(keywords))))
        hits = calibrate.run_fast(labels, config, times, post)
        m, matches = sm.score(recording.events, hits, keywords, recording.duration_s, 1000.0)
        hit = {x.event for x in matches if x.outcome == sm.HIT}
        by_snr = {}
        for i, e in enumerate(recording.events):
            if e.label in keywords:
                by_snr.setdefault(str(e.snr_db), []).append(i in hit)
        result["detectors"][pair] = {
            "miss_rate": m.miss_rate, "false_accepts": m.false_accepts,
            "fa_per_hour": m.fa_per_hour,
            "miss_rate_per_keyword": {k: round(1 - h / n, 3) for k, (n, h) in m.per_label.items()},
            "miss_rate_per_snr_db": {k: round(1 - float(np.mean(v)), 3)
                                     for k, v in sorted(by_snr.items())}}
        print(f"{pair}: misses {100 * m.miss_rate:.1f} % at {m.fa_per_hour:.1f} FA/h; per SNR "
              f"{result['detectors'][pair]['miss_rate_per_snr_db']}; per keyword "
              f"{result['detectors'][pair]['miss_rate_per_keyword']}")
    tau = _RAW_THRESHOLD.value
    columns = [labels.index(k) for k in keywords]
    positive, negative = [], []
    for e in recording.events:
        span = (times >= 1000 * e.start_s) & (times <= 1000 * e.end_s + 1500)
        if e.label in keywords:
            positive.append(runs_at(post[span, labels.index(e.label)], tau))
        else:
            negative.append(runs_at(post[span][:, columns].max(axis=1), tau))
    positive, negative = np.asarray(positive), np.asarray(negative)
    result["raw"] = {
        "threshold": tau, "keyword_events": len(positive),
        "keywords_recognised": float(np.mean(positive > 0)),
        "recognised_run_steps_quantiles_10_25_50_75": np.quantile(
            positive[positive > 0], [0.1, 0.25, 0.5, 0.75]).tolist(),
        "other_word_events": len(negative), "other_words_firing": int(np.sum(negative > 0)),
        "firing_run_steps": sorted(int(v) for v in negative[negative > 0])}
    print(json.dumps(result["raw"]))
    result["count_rule"] = count_rule_sweep(recording, times, post, labels, keywords)
    print("duration rule, best on this recording:", json.dumps(result["count_rule"]))
    with open(os.path.join(sbs._OUTPUT_DIR.value, "results.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    app.run(main)
