r"""Wake words from synthetic speech alone, scored on real people: alexa, computer, jarvis.

    nice -n 10 python benchmarks/wake_word.py --epochs=120 --seed=0 --num_workers=1

Steps (each skipped when its output exists, so a killed run continues; all under --workdir):
1. custom_word.py's own steps: `kws synth` (default engines) says the wake words, confusable words
   (WAKE_CONFUSABLES, a fixed list per word; --confusables, or --confusables_per_word for the
   pronouncing dictionary's, replace it) and custom_word's other words; the sets are linked into
   one tree, `kws-train` trains DS-CNN-S (streamable, MFCC, 1 s window: every word is said within
   it, kws synth speeds up a TTS word longer than 0.95 s) and `kws-export` exports the last
   checkpoint. No real audio is used in training.
2. A long negative stream (stream/): the real clips custom_word scores as negatives (the Speech
   Commands dev keywords and the Arabic test-split speakers) placed one after another with
   kws.stream_eval.recording over --noise_dirs at 5/10/20 dB SNR: real speech of speakers no run
   heard, with no wake word in it.
3. Scores, once per model (cached .npz): kws's int8 window model every --hop_ms
   (kws.stream_eval.sources.DeviceSource), and openWakeWord 0.5.1's pretrained alexa model as peer
   (OwwSource: its ONNX melspectrogram, embedding and alexa head run with onnxruntime, one score
   per 1280-sample frame). openWakeWord's models are CC BY-NC-SA: --peer installs the wheel into
   <workdir>/oww with `pip --no-deps --target`; it is never a dependency of kws. Each model hears
   the stream and every real clip of --positives_dir/<word> (never trained on), padded with
   --lead_ms of silence before (openWakeWord needs ~2 s of context) and --pad_ms after.
4. Detector (kws.device.detect's rules, via kws.stream_eval.calibrate's fast path) per word: the
   posteriors averaged over --average_windows_ms (80: each window alone), the word reported when
   it is the top label and reaches the threshold, 1 s suppression, other labels never reported.
   FA/h of the word = its detections on the negative stream / hours. For each --budgets value the
   threshold is the lowest swept one at which that and every higher threshold stays within the
   budget ON THE NEGATIVE STREAM (a DET point; the positives never choose it). A positive clip is
   missed when the detector never fires its word anywhere in the clip at that threshold.
   A clip that cannot be decoded or is shorter than --min_clip_ms is skipped and counted.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
from absl import app
from absl import flags

import custom_word as cw  # beside this script; its flags (workdir, words, seed, ...) are ours too
from kws import audio
from kws import progress
from kws.data import decode
from kws.errors import UserError
from kws.stream_eval import calibrate
from kws.stream_eval import recording as rec
from kws.stream_eval import sources
from kws.stream_eval import truth

WORDS = ("alexa", "computer", "jarvis")
WAKE_CONFUSABLES = {
    "alexa": ("alexis", "alex", "election", "lexus", "relax"),
    "computer": ("commuter", "compute", "computing", "company", "comfort"),
    "jarvis": ("jargon", "harvest", "service", "nervous", "jarred"),
}
"""Per wake word: real words that share most of its sounds (a part of it, or one sound away)."""
OWW_VERSION = "0.5.1"
OWW_MODELS = {"alexa": "alexa_v0.1.onnx"}
"""The wake words openWakeWord has a pretrained model of (its file in resources/models)."""
SAMPLE_RATE_HZ = 16000
_DEFAULTS = {"workdir": "runs/wake_word", "words": list(WORDS),
             "positives_dir": os.path.join(cw._SHARED_DATA, "wake_words_picovoice")}
_SWEEP = tuple(sorted(set(np.round(np.arange(0.01, 1.0, 0.01), 2).tolist()
                          + np.round(np.arange(0.991, 1.0, 0.001), 3).tolist()
                          + [0.9995, 0.9999, 0.99995, 0.99999, 0.999995, 0.999999, 1.0])))

_STREAM_MINUTES = flags.DEFINE_float("stream_minutes", 120.0, "Length of the negative stream.")
_STREAM_SEED = flags.DEFINE_integer("stream_seed", 0, "Seed of the negative stream.")
_MEAN_GAP_S = flags.DEFINE_float("mean_gap_s", 2.0, "Mean pause between negative clips.")
_NOISE_DIRS = flags.DEFINE_list("noise_dirs", [os.path.join(cw._SHARED_DATA, "_background_noise_")],
                                "Real background noise under the negative stream.")
_BUDGETS = flags.DEFINE_list("budgets", ["0.5", "1", "2"], "False accepts per hour.")
_AVERAGE_WINDOWS_MS = flags.DEFINE_list("average_windows_ms", ["80", "500"], "Detector averaging "
                                        "windows (80: one window alone at either model's hop).")
_LEAD_MS = flags.DEFINE_float("lead_ms", 2000.0, "Silence before each positive clip.")
_MIN_CLIP_MS = flags.DEFINE_float("min_clip_ms", 500.0, "Shorter positive clips are skipped.")
_PEER = flags.DEFINE_bool("peer", True, f"Score openWakeWord {OWW_VERSION} (installed into "
                          "<workdir>/oww, CC BY-NC-SA models, never committed).")


def wake_confusables(words: list[str], given: list[str] | None, per_word: int,
                     others: tuple[str, ...]) -> list[str]:
    """--confusables, else with --confusables_per_word the dictionary's
    (custom_word.confusables_of), else WAKE_CONFUSABLES (``UserError`` for a word without
    one)."""
    if given is not None:
        return list(given)
    if per_word:
        return cw.confusables_of(words, per_word, others)
    missing = [w for w in words if w not in WAKE_CONFUSABLES]
    if missing:
        raise UserError(f"no built-in confusable list for {missing} (have: "
                        f"{', '.join(WAKE_CONFUSABLES)}); pass --confusables=... or "
                        "--confusables_per_word=N")
    return [c for w in words for c in WAKE_CONFUSABLES[w]]


def read_positive(path: str, min_clip_ms: float) -> tuple[np.ndarray | None, str]:
    """(float32 samples, "") of a positive clip, or (None, why) when it is skipped."""
    try:
        clip = decode.read_clip(path, SAMPLE_RATE_HZ)
    except audio.AudioFileError as e:
        return None, f"unreadable: {e}"
    if len(clip) < min_clip_ms * SAMPLE_RATE_HZ / 1000:
        return None, f"{1000 * len(clip) / SAMPLE_RATE_HZ:.0f} ms < --min_clip_ms={min_clip_ms:g}"
    return clip, ""


def padded_pcm(clip: np.ndarray, lead_ms: float, pad_ms: float) -> np.ndarray:
    """int16: ``clip`` (float32) after ``lead_ms`` and before ``pad_ms`` of digital silence."""
    lead = np.zeros(int(round(SAMPLE_RATE_HZ * lead_ms / 1000)), np.float32)
    tail = np.zeros(int(round(SAMPLE_RATE_HZ * pad_ms / 1000)), np.float32)
    return audio.to_int16(np.concatenate([lead, clip, tail]))


def negative_stream(clips: list[str], noise_files: list[str], minutes: float, seed: int,
                    mean_gap_s: float) -> rec.Recording:
    """Negative clips one after another over noise (kws.stream_eval.recording; all _unknown_)."""
    config = rec.RecordingConfig(duration_s=60.0 * minutes, seed=seed, unknown_share=1.0,
                                 mean_gap_s=mean_gap_s, min_gap_s=min(0.5, mean_gap_s))
    pools = rec.ClipPools(keywords={}, unknown=tuple(clips), noise=tuple(noise_files))
    return rec.make_recording(pools, noise_files, SAMPLE_RATE_HZ, config)


def word_detector(times_ms: np.ndarray, posteriors: np.ndarray, column: int,
                  average_window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed float64 [n, labels], bool [n] where ``column`` is the top label) as the Detector
    averages them (minimum_count 1)."""
    smoothed, valid = calibrate.smoothed_posteriors(times_ms, posteriors, average_window_ms, 1)
    return smoothed, valid & (np.argmax(smoothed, axis=1) == column)


def clip_score(times_ms: np.ndarray, posteriors: np.ndarray, column: int,
               average_window_ms: float) -> float:
    """The highest threshold at which the word's detector fires in the clip (0: never top)."""
    smoothed, top = word_detector(times_ms, posteriors, column, average_window_ms)
    return float(smoothed[top, column].max()) if top.any() else 0.0


def fa_per_hour(times_ms: np.ndarray, posteriors: np.ndarray, column: int,
                average_window_ms: float, thresholds: tuple[float, ...], hours: float,
                suppression_ms: float = 1000.0) -> np.ndarray:
    """float64 [thresholds]: detections of ``column`` (every one a false accept) per hour, the
    other labels never reported (kws.stream_eval.calibrate.fast_detections)."""
    smoothed, valid = calibrate.smoothed_posteriors(times_ms, posteriors, average_window_ms, 1)
    out = []
    for t in thresholds:
        per_label = np.full(posteriors.shape[1], np.inf)
        per_label[column] = t
        out.append(len(calibrate.fast_detections(times_ms, smoothed, valid, per_label,
                                                 suppression_ms)) / hours)
    return np.asarray(out, np.float64)


def budget_threshold(thresholds: tuple[float, ...], fa: np.ndarray, budget: float) -> float | None:
    """The lowest threshold from which on (it and every higher one) FA/h <= ``budget``; None if
    even the highest exceeds it. ``thresholds`` ascending, ``fa`` [thresholds]."""
    chosen = None
    for t, value in reversed(list(zip(thresholds, fa))):
        if value > budget + 1e-9:
            break
        chosen = t
    return chosen


def miss_rate(scores: np.ndarray, threshold: float | None) -> float | None:
    """Share of clips whose score (clip_score) stays below ``threshold``."""
    return None if threshold is None or not len(scores) else float(np.mean(scores < threshold))


def _cached(path: str, make) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        arrays = make()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        np.savez(path + ".tmp.npz", **arrays)
        os.rename(path + ".tmp.npz", path)
    with np.load(path) as cached:
        return {k: cached[k] for k in cached.files}


def scan(source, stream: np.ndarray, positives: dict[str, list[np.ndarray]], path: str
         ) -> dict[str, np.ndarray]:
    """Posteriors of the stream and of each word's padded clips (``<word>:post``, with
    ``<word>:lengths`` windows per clip), cached in ``path``."""
    def make():
        bar = progress.Progress(1 + sum(map(len, positives.values())), f"scan {path}")
        times, post = source.posteriors(stream)
        out = {"stream:times": times, "stream:post": post}
        bar.update()
        for word, pcms in positives.items():
            parts = []
            for pcm in pcms:
                parts.append(source.posteriors(pcm))
                bar.update()
            out[f"{word}:times"] = np.concatenate([t for t, _ in parts])
            out[f"{word}:post"] = np.concatenate([p for _, p in parts])
            out[f"{word}:lengths"] = np.asarray([len(t) for t, _ in parts], np.int64)
        bar.close()
        return out
    return _cached(path, make)


def evaluate(scans: dict[str, np.ndarray], labels: tuple[str, ...], words: list[str],
             hours: float, budgets: list[float], windows_ms: list[float]) -> list[dict]:
    """Per word and averaging window: FA/h curve on the stream, and misses at each budget."""
    rows = []
    for word in words:
        column = labels.index(word)
        bounds = np.concatenate([[0], np.cumsum(scans[f"{word}:lengths"])])
        for window in windows_ms:
            fa = fa_per_hour(scans["stream:times"], scans["stream:post"], column, window, _SWEEP,
                             hours)
            scores = np.asarray([clip_score(scans[f"{word}:times"][a:b], scans[f"{word}:post"][a:b],
                                            column, window) for a, b in zip(bounds, bounds[1:])])
            at = {}
            for budget in budgets:
                t = budget_threshold(_SWEEP, fa, budget)
                at[f"{budget:g}"] = {"threshold": t, "miss_rate": miss_rate(scores, t),
                                     "fa_per_hour": None if t is None else
                                     float(fa[_SWEEP.index(t)])}
            rows.append({"word": word, "average_window_ms": window, "clips": int(len(scores)),
                         "at_budget": at, "fa_curve": dict(zip(map(str, _SWEEP), fa.tolist()))})
    return rows


def table(results: dict[str, list[dict]], budgets: list[float]) -> str:
    """Markdown: per word, model and window, miss rate (threshold) at each budget."""
    lines = ["| word | model | avg. window | clips | " + " | ".join(
        f"miss at ≤ {b:g} FA/h (threshold)" for b in budgets) + " |",
        "|" + "---|" * (4 + len(budgets))]
    for model, rows in results.items():
        for r in rows:
            cells = []
            for b in budgets:
                a = r["at_budget"][f"{b:g}"]
                cells.append("n/a" if a["threshold"] is None else
                             f"{100 * a['miss_rate']:.1f} % ({a['threshold']:g})")
            lines.append(f"| {r['word']} | {model} | {r['average_window_ms']:g} ms | "
                         f"{r['clips']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _changed(flag, name: str) -> str:
    """``_<name><value>`` when ``flag`` is not at its default (so a cache name follows it)."""
    value = flag.value
    if value == flag.default:
        return ""
    return f"_{name}" + (f"{value:g}" if isinstance(value, float) else
                         hashlib.sha1(repr(value).encode()).hexdigest()[:8])


def _stream_name() -> str:
    return (f"{_STREAM_MINUTES.value:g}m_s{_STREAM_SEED.value}" + _changed(_MEAN_GAP_S, "gap")
            + _changed(_NOISE_DIRS, "noise"))


def _scan_name() -> str:
    return (f"{_stream_name()}_lead{_LEAD_MS.value:g}" + _changed(cw._HOP_MS, "hop")
            + _changed(cw._PAD_MS, "pad") + _changed(_MIN_CLIP_MS, "min"))


def _stream(clips: dict[str, list[str]], workdir: str) -> rec.Recording:
    out = os.path.join(workdir, "stream")
    stem = os.path.join(out, f"negatives_{_stream_name()}")
    if os.path.isfile(stem + ".npy"):
        samples = np.load(stem + ".npy")
        return rec.Recording(samples=samples, sample_rate_hz=SAMPLE_RATE_HZ, events=())
    noise = [os.path.join(d, n) for d in _NOISE_DIRS.value for n in sorted(os.listdir(d))
             if n.lower().endswith(".wav")]
    recording = negative_stream(clips["keywords"] + clips["arabic_test"], noise,
                                _STREAM_MINUTES.value, _STREAM_SEED.value, _MEAN_GAP_S.value)
    os.makedirs(out, exist_ok=True)
    truth.write_csv(stem + ".csv", recording.events)
    np.save(stem + ".tmp.npy", recording.samples)
    os.rename(stem + ".tmp.npy", stem + ".npy")
    return recording


def _positives(clips: dict[str, list[str]], words: list[str]
               ) -> tuple[dict[str, list[np.ndarray]], dict[str, dict[str, str]]]:
    pcms, skipped = {}, {}
    for word in words:
        pcms[word], skipped[word] = [], {}
        for path in clips[f"positive:{word}"]:
            clip, why = read_positive(path, _MIN_CLIP_MS.value)
            if clip is None:
                skipped[word][os.path.basename(path)] = why
                print(f"skipped {path}: {why}")
            else:
                pcms[word].append(padded_pcm(clip, _LEAD_MS.value, cw._PAD_MS.value))
    return pcms, skipped


def install_peer(oww_dir: str) -> str:
    """openWakeWord's resources/models folder under ``oww_dir`` (pip --no-deps --target)."""
    models = os.path.join(oww_dir, "openwakeword", "resources", "models")
    if not os.path.isdir(models):
        tmp = oww_dir + ".tmp"
        cw._run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", tmp,
                 f"openwakeword=={OWW_VERSION}"], oww_dir + ".log")
        os.rename(tmp, oww_dir)
    return models


def _positive_floats(flag) -> list[float]:
    try:
        values = [float(v) for v in flag.value]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise UserError(f"--{flag.name}={','.join(flag.value)}: give numbers > 0, e.g. "
                        f"{','.join(flag.default)}")
    return values


def _run_name() -> str:
    """The training run's name, as custom_word.main names it."""
    name = "+".join(cw.engine_groups(list(cw._ENGINES.value)))
    name += "_neg" if cw._NEGATIVE_DIRS.value else ""
    if cw._UNKNOWN_PERCENTAGE.value != cw._UNKNOWN_PERCENTAGE.default:
        name += f"_u{cw._UNKNOWN_PERCENTAGE.value:g}"
    if cw._EPOCHS.value != cw._EPOCHS.default:
        name += f"_e{cw._EPOCHS.value}"
    return name + f"_s{cw._SEED.value}"


def main(argv: list[str]) -> int:
    del argv
    import oww_peer  # pylint: disable=import-outside-toplevel  (beside this script)

    words, workdir = list(cw._WORDS.value), cw._WORKDIR.value
    budgets, windows = _positive_floats(_BUDGETS), _positive_floats(_AVERAGE_WINDOWS_MS)
    confusables = wake_confusables(words, cw._CONFUSABLES.value, cw._CONFUSABLES_PER_WORD.value,
                                   tuple(cw._OTHER_WORDS.value))
    all_words = cw.synth_words(words, confusables, cw._OTHER_WORDS.value)
    groups = cw.engine_groups(list(cw._ENGINES.value))
    set_dirs = [cw.synthesize(g, all_words, workdir) for g in groups]
    data_dir = cw.merge_sets(set_dirs, os.path.join(workdir, "data", "+".join(groups)))
    run_dir = os.path.join(workdir, "train", _run_name())
    export_dir = cw.train_and_export(data_dir, run_dir, words)

    clips = cw.scored_clips(words)
    recording = _stream(clips, workdir)
    hours = recording.duration_s / 3600.0
    positives, skipped = _positives(clips, words)
    tag = _scan_name()
    source = sources.DeviceSource(export_dir, "int8", cw._HOP_MS.value)
    kws_scans = scan(source, recording.samples, positives,
                     os.path.join(run_dir, f"wake_scan_{tag}.npz"))
    results = {f"kws {_run_name()}": evaluate(kws_scans, source.labels, words, hours, budgets,
                                              windows)}
    peer_words = [w for w in words if w in OWW_MODELS]
    if _PEER.value and peer_words:
        models = install_peer(os.path.join(workdir, "oww"))
        for word in peer_words:
            peer = oww_peer.OwwSource(models, OWW_MODELS[word], word)
            scans = scan(peer, recording.samples, {word: positives[word]},
                         os.path.join(workdir, "oww_scans", f"{word}_{tag}.npz"))
            results[f"openWakeWord {OWW_VERSION} {OWW_MODELS[word]}"] = evaluate(
                scans, peer.labels, [word], hours, budgets, windows)
    summary = {"stream": {"minutes": recording.duration_s / 60, "seed": _STREAM_SEED.value,
                          "negative_clips": len(clips["keywords"]) + len(clips["arabic_test"]),
                          "one_fa_per_hour": 1 / hours},
               "words": words, "negative_words": all_words[len(words):], "skipped": skipped,
               "hop_ms": cw._HOP_MS.value, "lead_ms": _LEAD_MS.value, "pad_ms": cw._PAD_MS.value,
               "results": results}
    out = os.path.join(run_dir, f"wake_results_{tag}.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"{out}\nnegative stream {recording.duration_s / 60:.0f} min (one FA = {1 / hours:.2g} "
          f"FA/h); thresholds chosen on it\n" + table(results, budgets))
    return 0


def _main_or_error(argv: list[str]) -> int:
    """main, a UserError ending it with its one-line message and exit code 1."""
    try:
        return main(argv)
    except UserError as e:
        print(f"wake_word.py: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    for _name, _value in _DEFAULTS.items():
        flags.FLAGS.set_default(_name, _value)
    app.run(_main_or_error)
