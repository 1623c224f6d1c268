r"""A speech-embedding keyword head trained on the time axis (issue 13's recipe on Google's frozen
speech_embedding): long generated training recordings, end-aligned per-step targets, partial words
as negatives, hard-negative mining rounds, the epoch chosen on a validation stream at the
false-accept budget, and a detector calibrated there. Writes a folder for
stream_side_by_side.py --embedding_heads (head.keras, head.json, detector.json).

    python benchmarks/real_voices.py --real_dir=../shared/data/speech_commands_test_v0.02_dev \
        --noise_dir=../shared/data/_background_noise_ --workdir=runs/rv_valu --real_repeat=6 \
        --real_validation_percentage=15 --prepare_only \
        --extra_real_dirs=../shared/data/speech_commands_v0.01_unknown_words --extra_real_repeat=2
    python benchmarks/embedding_stream_head.py --data_dir=runs/rv_valu/merged_data \
        --output_dir=runs/emb_stream_head
    python benchmarks/stream_side_by_side.py --data_dir=runs/rv_valu/merged_data \
        --embedding_heads=runs/emb_stream_head --output_dir=runs/stream_bench_emb_stream

Data: --train_streams recordings of --stream_minutes each (kws.stream_eval.recording, one seed
each) from the training split of --data_dir (real training speakers and synthetic voices), the
training speakers of --negative_dirs (by the speaker rule, as stream_side_by_side.py holds its test
speakers out), every clip of --extra_negative_dirs (other speech no test stream holds) and the
training and test voices' keywords of --extra_keyword_dirs (more synthetic voices), over
--noise_dirs at --snr_db. Each mining round adds --mining_streams recordings of other words only
(new seeds); the steps where the last round's head gave a keyword >= --mining_threshold weigh
--mining_weight; the round kept is the one with the fewest validation misses. The validation
stream: the validation split's real voices (--validation_voices=all: its synthetic ones too) and
the validation speakers of --negative_dirs. Targets: stream_labels.py.
Embeddings of every recording are cached under --workdir/streams; each round's head under
--output_dir/rounds, so a killed run continues.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import dataclasses
import json
import os
import sys

from absl import flags

import embedding_onnx as eo
from kws import cli
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.head import labels as sl
from kws.head import streams as hs
from kws.head import trainer as sh
from kws.stream_eval import recording as rec

_SHARED = os.environ.get("KWS_SHARED_DATA", os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "shared", "data"))
_DATA_DIR = flags.DEFINE_string("data_dir", "runs/rv_valu/merged_data", "A real_voices.py "
                                "merged tree (keyword folders and other words).")
_NEGATIVE_DIRS = flags.DEFINE_list("negative_dirs", [os.path.join(
    _SHARED, "arabic_speech_commands_negatives")], "Other speech split by speaker: training "
    "speakers train, validation speakers validate, test speakers are never read.")
_EXTRA_NEGATIVE_DIRS = flags.DEFINE_list("extra_negative_dirs", [os.path.join(
    _SHARED, "wake_words_picovoice")], "Other speech for training only (every clip).")
_EXTRA_KEYWORD_DIRS = flags.DEFINE_list("extra_keyword_dirs", [], "More keyword voices for "
                                         "training: `kws synth` sets (e.g. --engines=kokoro) of "
                                         "the keywords; their training and test voices train, "
                                         "their validation voices are never heard.")
_NOISE_DIRS = flags.DEFINE_list("noise_dirs", [os.path.join(_SHARED, "_background_noise_"),
                                               os.path.join(_SHARED, "_background_noise_more")],
                                "Real background noise under the words.")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0, "Speaker split of "
                                            "--negative_dirs.")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 30.0, "Speaker split of "
                                         "--negative_dirs (stream_side_by_side.py's).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/emb_stream", "The wheel and the recordings' "
                               "embeddings (shared by runs).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/emb_stream_head", "The head's folder.")
_TRAIN_STREAMS = flags.DEFINE_integer("train_streams", 12, "Training recordings.")
_STREAM_MINUTES = flags.DEFINE_float("stream_minutes", 20.0, "Length of each recording.")
_VALIDATION_MINUTES = flags.DEFINE_float("validation_minutes", 60.0, "The validation stream.")
_VALIDATION_VOICES = flags.DEFINE_enum("validation_voices", "real", ["real", "all"], "real: the "
                                       "validation stream leaves the tree's synthetic voices out "
                                       "(they rank epochs and thresholds unlike real speakers).")
_UNKNOWN_SHARE = flags.DEFINE_float("unknown_share", 0.5, "Share of other words in training.")
_SNR_DB = flags.DEFINE_list("snr_db", ["0", "5", "10", "15", "20", "30"], "Training SNRs.")
_MEAN_GAP_S = flags.DEFINE_float("mean_gap_s", 2.0, "Mean gap between training words.")
_POSITIVE_TAIL_MS = flags.DEFINE_float("positive_tail_ms", 400.0, "stream_labels.py.")
_CUT_WORDS = flags.DEFINE_enum("cut_words", "negative", list(sl.CUT_WORDS), "Cut-off keywords.")
_NEGATIVE_WEIGHT = flags.DEFINE_float("negative_weight", 0.3, "Loss weight of negative steps "
                                      "(positives weigh 1; chosen on the validation stream).")
_MINING_ROUNDS = flags.DEFINE_integer("mining_rounds", 1, "Rounds of hard-negative mining.")
_MINING_STREAMS = flags.DEFINE_integer("mining_streams", 4, "Other-word recordings per round.")
_MINING_THRESHOLD = flags.DEFINE_float("mining_threshold", 0.5, "A step fires at this.")
_MINING_WEIGHT = flags.DEFINE_float("mining_weight", 5.0, "Loss weight of a mined step.")
_EPOCHS = flags.DEFINE_integer("epochs", 30, "Epochs per round.")
_EPOCH_CHOICE = flags.DEFINE_enum("epoch_choice", "validation", list(sh.EPOCH_CHOICES), "The "
                                  "epoch kept: fewest validation misses at the budget, or the "
                                  "last.")
_HIDDEN = flags.DEFINE_integer("hidden", 128, "Width of the head.")
_FA_PER_HOUR = flags.DEFINE_float("fa_per_hour", 2.0, "Budget of epoch choice and calibration.")
_THRESHOLDS = flags.DEFINE_enum("thresholds", "shared", ["shared", "per_keyword"], "Calibrated "
                                 "detector: one threshold for all keywords (measured to hold its "
                                 "budget on unseen speakers) or one per keyword.")
_THREADS = flags.DEFINE_integer("threads", 2, "CPU threads of the embedding model.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the recordings and the head.")


def pools(split: str) -> rec.ClipPools:
    data = sc.DataConfig(data_dir=_DATA_DIR.value, label_mode="all_words",
                         validation_percentage=_VALIDATION_PERCENTAGE.value,
                         testing_percentage=_TESTING_PERCENTAGE.value)
    merged = rec.with_negatives(rec.clip_pools(data, split, sc.SPEECH_COMMANDS_KEYWORDS), data,
                                split, _NEGATIVE_DIRS.value)
    if split == "train":
        extra = tuple(p for d in _EXTRA_NEGATIVE_DIRS.value for p in hs.audio_files(d))
        merged = dataclasses.replace(merged, unknown=merged.unknown + extra)
        for folder in _EXTRA_KEYWORD_DIRS.value:
            voices = sc.DataConfig(data_dir=folder, label_mode="all_words")
            more = [rec.clip_pools(voices, s, sc.SPEECH_COMMANDS_KEYWORDS)
                    for s in ("train", "test")]
            merged = dataclasses.replace(merged, keywords={
                k: v + tuple(p for m in more for p in m.keywords[k])
                for k, v in merged.keywords.items()})
    if split == "validation" and _VALIDATION_VOICES.value == "real":
        merged = real_only(merged, synthetic_dir())
    return merged


def synthetic_dir() -> str:
    """The synthetic dataset of the merged tree --data_dir (real_voices_split.json)."""
    path = os.path.join(_DATA_DIR.value, "real_voices_split.json")
    if not os.path.isfile(path):
        raise UserError(f"{_DATA_DIR.value} is not a real_voices.py merged tree (no "
                        "real_voices_split.json), so its real voices are unknown; pass "
                        "--validation_voices=all")
    with open(path, encoding="utf-8") as f:
        return os.path.realpath(json.load(f)["synth_dir"]) + os.sep


def real_only(clip_pools: rec.ClipPools, synth_dir: str) -> rec.ClipPools:
    """The pools without the clips under ``synth_dir``."""

    def real(paths):
        return tuple(p for p in paths if not os.path.realpath(p).startswith(synth_dir))
    keywords = {k: real(v) for k, v in clip_pools.keywords.items()}
    empty = [k for k, v in keywords.items() if not v]
    if empty:
        raise UserError(f"{_DATA_DIR.value}: no real validation clips of {', '.join(empty)}; "
                        "pass --validation_voices=all")
    return dataclasses.replace(clip_pools, keywords=keywords, unknown=real(clip_pools.unknown))


def recipe() -> sh.HeadRecipe:
    return sh.HeadRecipe(
        keywords=tuple(sc.SPEECH_COMMANDS_KEYWORDS), hidden=_HIDDEN.value, epochs=_EPOCHS.value,
        negative_weight=_NEGATIVE_WEIGHT.value, mining_weight=_MINING_WEIGHT.value,
        mining_threshold=_MINING_THRESHOLD.value, fa_per_hour=_FA_PER_HOUR.value,
        seed=_SEED.value, epoch_choice=_EPOCH_CHOICE.value,
        labelling=sl.StepLabelConfig(positive_tail_ms=_POSITIVE_TAIL_MS.value,
                                     cut_words=_CUT_WORDS.value))


RECIPE_FLAGS = ("data_dir", "negative_dirs", "extra_negative_dirs", "extra_keyword_dirs",
                "noise_dirs",
                "validation_percentage", "testing_percentage", "train_streams", "stream_minutes",
                "validation_minutes", "validation_voices", "unknown_share", "snr_db", "mean_gap_s",
                "positive_tail_ms", "cut_words", "negative_weight", "mining_streams",
                "mining_threshold", "mining_weight", "epochs", "epoch_choice", "hidden",
                "fa_per_hour", "seed")


def check_recipe(path: str) -> None:
    """Writes the recipe flags to ``path``, or refuses a rerun whose flags differ from them."""
    sh.check_recipe(path, {name: flags.FLAGS[name].value for name in RECIPE_FLAGS})


def main(argv):
    del argv
    snr = tuple(float(v) for v in _SNR_DB.value)
    if not os.path.isdir(_DATA_DIR.value):
        raise UserError(f"--data_dir {_DATA_DIR.value} does not exist; build it with "
                        "real_voices.py --prepare_only (this file's docstring)")
    if _VALIDATION_VOICES.value == "real":
        synthetic_dir()  # checked before any slow work
    check_recipe(os.path.join(_OUTPUT_DIR.value, "recipe.json"))
    train_pools, val_pools = pools("train"), pools("validation")
    negative_pools = dataclasses.replace(train_pools, keywords={k: v[:1] for k, v in
                                                                train_pools.keywords.items()})
    print(f"training pools: {sum(map(len, train_pools.keywords.values()))} keyword clips, "
          f"{len(train_pools.unknown)} other; validation: "
          f"{sum(map(len, val_pools.keywords.values()))} / {len(val_pools.unknown)}", flush=True)
    cache = hs.Embeddings(os.path.join(_WORKDIR.value, "streams"), lambda: eo.Embedder(
        eo.resources(_WORKDIR.value), _THREADS.value), _NOISE_DIRS.value)
    validation = cache.stream("validation", val_pools, rec.RecordingConfig(
        duration_s=60 * _VALIDATION_MINUTES.value, seed=1000 + _SEED.value, unknown_share=0.45))
    gaps = {"mean_gap_s": _MEAN_GAP_S.value, "min_gap_s": min(0.5, _MEAN_GAP_S.value)}
    streams = [(f"train{i}", cache.stream(f"train{i}", train_pools, rec.RecordingConfig(
        duration_s=60 * _STREAM_MINUTES.value, seed=10_000 * (1 + _SEED.value) + i, snr_db=snr,
        unknown_share=_UNKNOWN_SHARE.value, **gaps))) for i in range(_TRAIN_STREAMS.value)]

    def mining_stream(r: int, i: int):  # other words only: every firing is false
        name = f"mine{r}_{i}"
        return name, cache.stream(name, negative_pools, rec.RecordingConfig(
            duration_s=60 * _STREAM_MINUTES.value, seed=20_000 * (1 + _SEED.value) + 100 * r + i,
            snr_db=snr, unknown_share=1.0, **gaps))
    head = recipe()
    seq, win, report = sh.train_with_mining(streams, mining_stream, validation, _OUTPUT_DIR.value,
                                            head, _MINING_ROUNDS.value, _MINING_STREAMS.value)
    report["calibrated"] = sh.save_head(seq, win, validation, _OUTPUT_DIR.value, head,
                                        eo.head_frontend(_WORKDIR.value),
                                        _THRESHOLDS.value == "shared")
    report["flags"] = {f.name: f.value for f in flags.FLAGS.get_key_flags_for_module(
        sys.modules[__name__])}
    with open(os.path.join(_OUTPUT_DIR.value, "train_report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)


if __name__ == "__main__":
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
