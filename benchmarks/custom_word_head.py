r"""A custom word from synthetic speech alone on the frozen speech embedding, with a head trained on
the time axis (wake_word_head.py's recipe), scored as custom_word.py scores: bed, cat, happy
recalled on 2,570 real v0.01 clips, false accepts on 2,104 real Speech Commands keyword clips and
the 600 clips of the Arabic test speakers, the threshold at <= --max_fa false accepts.

    nice -n 10 python benchmarks/custom_word_head.py --seed=0

Steps (each cached under --workdir, so a killed run continues):
1. `kws synth` (wake_word_head.synthetic_data): the words, custom_word's confusables and other
   words by the default engines; --positive_engines (default: Kokoro) say the words alone.
2. The head (wake_word_head.train_head): training recordings of the synthetic training and test
   voices' words among other speech: the synthetic other words, the Arabic *training* speakers
   (the speaker rule: its test speakers are scored), and every clip of --extra_negative_dirs
   (the default synthetic dataset, the real wake-word recordings) but the ten Speech Commands
   keywords, the custom words and the noise folders; mining; the epoch and the detector chosen
   on a validation stream of the synthetic validation voices. No real clip of a custom word, and
   no rendition of a scored negative word, is heard in training.
3. Scoring: every scored clip gets --lead_ms of silence before it and --pad_ms after it; the
   clips are embedded once (their embeddings cached in --workdir/clip_embeddings, shared by every
   head: the padded clips are laid end to end at whole embedding hops, and each clip keeps only
   the embeddings of its own audio, so each equals a scan of the clip alone); a clip's score for
   a word is the highest posterior (averaged over --average_windows_ms) at which the word is the
   top label; custom_word.score_rows makes the table. The head's own detector (window and
   thresholds calibrated on validation audio) is run on each clip as on the device: recall =
   positives where it reports their word, false accepts = negatives where it reports any word.
   With --ensemble_seeds, steps 2-3 run for each seed and the mean of the heads' posteriors (one
   embedding, several heads) is scored too, with its own detector calibrated on a validation
   stream arranged unlike any of its heads' (wake_word_head.ensemble_detector).
   --train_keyword_speakers: the real keyword clips of --keyword_negatives_dir's training
   speakers (keyword_split) are other words in training and validation, and only its test
   speakers' are scored.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import hashlib
import json
import os
import sys
from typing import Callable

import numpy as np
from absl import flags

import custom_word as cw  # its flags (workdir, words, seed, max_fa, ...) are ours too
import embedding_onnx as eo
import embedding_stream
import wake_word as ww
import wake_word_head as wwh  # its flags (positive_engines, head_epochs, ...) are ours too
from kws import cli
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws import audio
from kws import progress
from kws.data import decode
from kws.device import detect
from kws.head import trainer as sh
from kws.stream_eval import calibrate

_DEFAULTS = {
    "workdir": "runs/custom_word_head",
    "negative_dirs": [os.path.join(cw._SHARED_DATA, "arabic_speech_commands_negatives")],
    "extra_negative_dirs": [os.path.join(os.path.expanduser("~"), ".cache", "kws", "synthetic"),
                            os.path.join(cw._SHARED_DATA, "wake_words_picovoice")],
    "positive_engines": ["kokoro"],
    "lead_ms": 2080.0,  # wake_word's flag: at least the head's view, 16 embeddings (2.04 s)
}
LEAVE_OUT = ("_background_noise_",)
"""Folders of --extra_negative_dirs that are not speech."""
_SCORE_WINDOWS_MS = flags.DEFINE_list("score_windows_ms", ["80", "400"],
                                      "Averaging windows of the clip scores.")
_TRAIN_KEYWORD_SPEAKERS = flags.DEFINE_bool(
    "train_keyword_speakers", False, "Train on the keyword clips of --keyword_negatives_dir's "
    "training speakers and validate on its validation speakers (keyword_split); the scored "
    "keyword clips are then its test speakers' only (--keyword_speakers=test).")
_KEYWORD_SPEAKERS = flags.DEFINE_enum(
    "keyword_speakers", "all", ["all", "test"], "Which speakers' clips of --keyword_negatives_dir "
    "are scored: all, or keyword_split's test speakers (required by --train_keyword_speakers).")
_KEYWORD_TEST_PERCENTAGE = flags.DEFINE_float(
    "keyword_test_percentage", 50.0, "keyword_split: the share of the keyword clips' speakers "
    "that is scored (10 % more validate, the rest train).")
_SCORE_HEADS = flags.DEFINE_list(
    "score_heads", [], "Score these head folders instead of training (steps 1-2 skipped): e.g. "
    "`kws head` output folders; an ensemble folder (ensemble.json) scores the mean of its heads "
    "with its own detector.")
KEYWORD_SPLIT_SALT = "custom_word_head:"
"""keyword_split hashes the speaker with this prefix: Speech Commands' own rule put every
speaker of its test set in its test split, so it cannot split them again."""

RECIPE_FLAGS = wwh.RECIPE_FLAGS + ("confusables", "confusables_per_word", "other_words",
                                   "train_keyword_speakers", "keyword_test_percentage")


def _padded_samples(ms: float) -> int:
    return int(round(ms * eo.SAMPLE_RATE_HZ / 1000))


def clip_embeddings(clips: dict[str, list[str]], out_dir: str, lead_ms: float, tail_ms: float,
                    make_embedder: Callable[[], eo.Embedder]) -> dict[str, np.ndarray]:
    """``<source>:embeddings`` float16 [n, 96] and ``<source>:lengths`` (embeddings per clip) of
    every clip of custom_word.scored_clips, padded (module docstring step 3), each embedded
    alone: the mel model's floor follows the loudest sound of the audio it is given, so clips laid
    end to end would change each other's embeddings. Cached by the clip list and the padding;
    ``make_embedder`` is called only when the cache is missing."""
    lead, tail = _padded_samples(lead_ms), _padded_samples(tail_ms)
    key = hashlib.sha1(json.dumps([sorted(clips.items()), lead, tail]).encode()).hexdigest()[:16]

    def make():
        embedder = make_embedder()
        bar = progress.Progress(sum(map(len, clips.values())), "embed the scored clips")
        out = {}
        for source, paths in clips.items():
            embs = []
            for p in paths:
                clip = decode.read_clip(p, eo.SAMPLE_RATE_HZ)
                samples = np.concatenate([np.zeros(lead, np.float32), clip,
                                          np.zeros(tail, np.float32)])
                emb, _ = embedding_stream.embeddings_of_recording(embedder, audio.to_int16(samples))
                embs.append(emb.astype(np.float16))
                bar.update()
            out[f"{source}:embeddings"] = np.concatenate(embs)
            out[f"{source}:lengths"] = np.asarray([len(e) for e in embs], np.int64)
        bar.close()
        return out
    return ww._cached(os.path.join(out_dir, f"clips_{key}.npz"), make)


def keyword_split(path: str) -> str:
    """'validation' (10 %), 'test' (--keyword_test_percentage) or 'train' for the speaker of a
    Speech Commands clip, by a salted SHA-1 of the speaker (KEYWORD_SPLIT_SALT)."""
    digest = hashlib.sha1((KEYWORD_SPLIT_SALT + sc.speaker_id(path)).encode()).hexdigest()
    percent = int(digest, 16) % 10_000 / 100.0
    if percent < 10.0:
        return "validation"
    return "test" if percent < 10.0 + _KEYWORD_TEST_PERCENTAGE.value else "train"


def keyword_negatives() -> dict[str, tuple[str, ...]]:
    """split -> the keyword clips of --keyword_negatives_dir that train / validate the head
    (none unless --train_keyword_speakers; a UserError when all of its speakers are scored)."""
    if not _TRAIN_KEYWORD_SPEAKERS.value:
        return {}
    if _KEYWORD_SPEAKERS.value == "all":
        raise UserError("--train_keyword_speakers trains on some speakers of "
                        "--keyword_negatives_dir: pass --keyword_speakers=test to score only the "
                        "others")
    clips = cw.scored_clips([])["keywords"]
    return {split: tuple(p for p in clips if keyword_split(p) == split)
            for split in ("train", "validation")}


def scored_speakers(clips: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """source -> bool [clips]: which clips are scored (--keyword_speakers: the keyword clips of
    every speaker, or of keyword_split's test speakers only; every clip of the other sources)."""
    out = {s: np.ones(len(p), bool) for s, p in clips.items()}
    if _KEYWORD_SPEAKERS.value == "test":
        out["keywords"] = np.asarray([keyword_split(p) == "test" for p in clips["keywords"]])
    return out


def clip_posteriors(head, embeddings: np.ndarray, lengths: np.ndarray
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per clip: (times ms from the start of its padded audio, posteriors) of the window head on
    each run of ``lengths`` embeddings (windows never cross from one clip into the next)."""
    post = sh.head_posteriors(head, embeddings.astype(np.float32), sh.VIEW)
    out, at = [], 0
    for n in lengths:
        windows = int(n) - sh.VIEW + 1
        ends = eo.embedding_end_samples(int(n))[sh.VIEW - 1:]
        out.append((1000.0 * ends / eo.SAMPLE_RATE_HZ, post[at:at + windows]))
        at += int(n)
    return out


def clip_scores(scans, labels: tuple[str, ...], words: list[str], window_ms: float) -> np.ndarray:
    """float [clips, words]: wake_word.clip_score of each word's column in each clip."""
    return np.asarray([[ww.clip_score(t, p, labels.index(w), window_ms) for w in words]
                       for t, p in scans])


def detector_rates(scans: dict, labels: tuple[str, ...], words: list[str],
                   detector: detect.DetectorConfig) -> dict:
    """The head's own detector run on each clip (kws.stream_eval.calibrate.run_fast): per word,
    the share of its clips where it reports the word and of negatives where it reports the word;
    pooled, the share of negatives where it reports any."""
    reported = {source: [{d.label for d in calibrate.run_fast(labels, detector, t, p)}
                         for t, p in clip_scans] for source, clip_scans in scans.items()}
    negatives = [r for s in ("keywords", "arabic_test") for r in reported[s]]
    out = {w: {"threshold": detector.threshold_of(w),
               "recall": float(np.mean([w in r for r in reported[f"positive:{w}"]])),
               "false_accepts": float(np.mean([w in r for r in negatives]))} for w in words}
    out["pooled"] = {"recall": float(np.mean([w in r for w in words
                                              for r in reported[f"positive:{w}"]])),
                     "false_accepts": float(np.mean([bool(set(words) & r) for r in negatives])),
                     "average_window_ms": detector.average_window_ms}
    return out


def trained_head(data_dir: str, words: list[str], confusables: list[str], seed: int,
                 real_negatives: dict[str, tuple[str, ...]]) -> str:
    """Step 2 for one --seed: the head's folder (trained unless it is there)."""
    flags.FLAGS.seed = seed
    out = wwh.head_dir(RECIPE_FLAGS)
    sh.check_recipe(os.path.join(out, "recipe.json"),
                    {n: flags.FLAGS[n].value for n in RECIPE_FLAGS})
    wwh.train_head(data_dir, tuple(words), confusables, out, RECIPE_FLAGS, LEAVE_OUT,
                   real_negatives)
    return out


def score_rows(scans: dict, labels: tuple[str, ...], words: list[str]) -> dict:
    """Averaging window -> custom_word.score_rows of the clips' posteriors."""
    thresholds = [float(t) for t in cw._THRESHOLDS.value]
    results = {}
    for window in (float(w) for w in _SCORE_WINDOWS_MS.value):
        positives = {w: clip_scores(scans[f"positive:{w}"], labels, words, window)
                     for w in words}
        negatives = np.concatenate([clip_scores(scans[s], labels, words, window)
                                    for s in ("keywords", "arabic_test")])
        results[f"{window:g} ms"] = cw.score_rows(positives, negatives, words, thresholds,
                                                  cw._MAX_FA.value)
    return results


def mean_scans(scans: list[dict]) -> dict:
    """The clip posteriors of several heads averaged (an ensemble of heads on one embedding)."""
    return {source: [(clip_scans[0], np.mean([s[source][i][1] for s in scans], axis=0))
                     for i, clip_scans in enumerate(scans[0][source])] for source in scans[0]}


def head_scans(out: str, clips: dict, cached: dict, kept: dict) -> tuple[tuple[str, ...], dict]:
    """(labels, source -> per kept clip (times, posteriors)) of the head in ``out``."""
    import keras  # pylint: disable=import-outside-toplevel
    with open(os.path.join(out, "head.json"), encoding="utf-8") as f:
        labels = tuple(json.load(f)["labels"])
    head = keras.models.load_model(os.path.join(out, "head.keras"))
    return labels, {s: [scan for scan, keep in zip(clip_posteriors(
        head, cached[f"{s}:embeddings"], cached[f"{s}:lengths"]), kept[s]) if keep]
        for s in clips}


def score_folder(folder: str, clips: dict, cached: dict, kept: dict, summary: dict,
                 suffix: str) -> None:
    """--score_heads: a head folder, or an ensemble folder's mean, with the folder's detector."""
    path = os.path.join(folder, "ensemble.json")
    heads = [folder]
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            heads = list(json.load(f)["heads"])
    every = [head_scans(h, clips, cached, kept) for h in heads]
    labels, scans = every[0][0], mean_scans([s for _, s in every])
    detector, _ = detect.load_detector_file(folder)
    own = detector_rates(scans, labels, list(cw._WORDS.value), detector)
    _write(os.path.join(folder, f"custom_word_results{suffix}.json"), dict(
        summary, heads=heads, results=score_rows(scans, labels, list(cw._WORDS.value)),
        calibrated_detector=own))
    _print_own(own)


def _write(path: str, summary: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(path)
    for window, rows in summary["results"].items():
        print(f"\nclip scores averaged over {window}:\n" + cw.table(rows, cw._MAX_FA.value))


def _print_own(own: dict) -> None:
    print(f"\nthe own detector ({own['pooled']['average_window_ms']:g} ms, thresholds chosen on "
          "validation audio):")
    for word, r in own.items():
        print(f"  {word}: recall {100 * r['recall']:.1f} %, false accepts "
              f"{100 * r['false_accepts']:.1f} %")


def main(argv: list[str]) -> int:
    del argv
    words, workdir = list(cw._WORDS.value), cw._WORKDIR.value
    confusables = (list(cw._CONFUSABLES.value) if cw._CONFUSABLES.value is not None
                   else cw.confusables_of(words, cw._CONFUSABLES_PER_WORD.value,
                                          tuple(cw._OTHER_WORDS.value)))
    real_negatives = keyword_negatives()  # its UserError before any work
    seeds = [int(v) for v in wwh._ENSEMBLE_SEEDS.value] or [cw._SEED.value]
    if _SCORE_HEADS.value:
        heads, data_dir = [], None
    else:
        data_dir = wwh.synthetic_data(words, confusables)
        heads = [trained_head(data_dir, words, confusables, seed, real_negatives) for seed in seeds]

    clips = cw.scored_clips(words)
    cached = clip_embeddings(clips, os.path.join(workdir, "clip_embeddings"), ww._LEAD_MS.value,
                             cw._PAD_MS.value, lambda: eo.Embedder(eo.resources(workdir), 2))
    kept = scored_speakers(clips)
    counts = {s: int(k.sum()) for s, k in kept.items()}
    suffix = "" if _KEYWORD_SPEAKERS.value == "all" else "_test_speakers"
    for folder in _SCORE_HEADS.value:
        score_folder(folder, clips, cached, kept, {
            "lead_ms": ww._LEAD_MS.value, "tail_ms": cw._PAD_MS.value,
            "keyword_speakers": _KEYWORD_SPEAKERS.value, "clips": counts}, suffix)
    every = []
    for out in heads:
        labels, scans = head_scans(out, clips, cached, kept)
        every.append(scans)
        detector, _ = detect.load_detector_file(out)
        own = detector_rates(scans, labels, words, detector)
        _write(os.path.join(out, f"custom_word_results{suffix}.json"), {
            "head": out, "lead_ms": ww._LEAD_MS.value, "tail_ms": cw._PAD_MS.value,
            "keyword_speakers": _KEYWORD_SPEAKERS.value, "clips": counts,
            "results": score_rows(scans, labels, words), "calibrated_detector": own})
        _print_own(own)
    if len(heads) > 1:
        print(f"\nthe mean posterior of the {len(heads)} heads:")
        mean = mean_scans(every)
        detector = wwh.ensemble_detector(heads, wwh.validation_stream(
            data_dir, tuple(words), confusables, real_negatives,
            wwh.ENSEMBLE_VALIDATION_SEED), wwh.ensemble_dir(heads))
        own = detector_rates(mean, labels, words, detector)
        _write(os.path.join(wwh.ensemble_dir(heads), f"custom_word_results{suffix}.json"),
               {"heads": heads, "lead_ms": ww._LEAD_MS.value, "tail_ms": cw._PAD_MS.value,
                "keyword_speakers": _KEYWORD_SPEAKERS.value, "clips": counts,
                "results": score_rows(mean, labels, words), "calibrated_detector": own})
        _print_own(own)
    return 0


if __name__ == "__main__":
    for _name, _value in _DEFAULTS.items():
        flags.FLAGS.set_default(_name, _value)
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
