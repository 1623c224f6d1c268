"""`kws head`: a detector for your own words on Google's frozen speech embedding, trained on the
time axis; the best kws detector from synthetic speech alone (not a microcontroller model: it runs
where LiteRT runs, e.g. a Raspberry Pi).

    kws synth --output_dir=data/kiwi --words=hey_kiwi,bed,dog --confusables_per_word=6
    kws head --data_dir=data/kiwi --wanted_words=hey_kiwi --output_dir=runs/kiwi_head
    kws-export --embedding_head_dir=runs/kiwi_head --output_dir=runs/kiwi_head/export
    kws-infer --model_dir=runs/kiwi_head/export --mic

Long recordings are generated from the tree's clips over its background noise, embedded once by the
front end kws-infer runs (tools/install.sh fetches it) and cached under --workdir; a small head
learns per 80-ms step whether a wanted word has just ended; rounds of hard-negative mining follow;
the epoch, the round and the detector (one threshold and a smoothing window) are chosen on a
validation recording of the tree's validation voices for --fa_per_hour (kws.head.recipe). With
several --seeds, a head per seed and the detector of their mean. Rerun the same command after a
kill: it continues.
"""

from __future__ import annotations

import os

from absl import flags

from kws.errors import UserError

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder with a folder of clips per word (and "
                                "_background_noise_), e.g. from `kws synth`.", required=True)
_WANTED_WORDS = flags.DEFINE_list("wanted_words", None, "The words to detect; every other word "
                                  "folder is other speech.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "The head folder (for kws-export "
                                  "--embedding_head_dir).", required=True)
_WORKDIR = flags.DEFINE_string("workdir", "", "Cache of the embedded recordings (default: "
                               "<output_dir>/streams).")
_NOISE_DIRS = flags.DEFINE_list("noise_dirs", [], "Background noise under the words (default: "
                                "<data_dir>/_background_noise_).")
_NEGATIVE_DIRS = flags.DEFINE_list("negative_dirs", [], "More other speech (any audio, any "
                                   "depth), split by speaker: its training speakers train, its "
                                   "validation speakers validate, its test speakers are never "
                                   "heard.")
_EXTRA_NEGATIVE_DIRS = flags.DEFINE_list("extra_negative_dirs", [], "More other speech for "
                                         "training only (every clip but those in a folder named "
                                         "like a wanted word or _background_noise_).")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0, "Voices that "
                                            "validate (kws-train's speaker split).")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 10.0, "kws-train's test voices.")
_TRAIN_SPLITS = flags.DEFINE_list("train_splits", ["train", "test"], "Voices that train.")
_VALIDATION_CONFUSABLES = flags.DEFINE_integer(
    "validation_confusables", 12, "Other-word folders among the N dictionary words that sound "
    "closest to a wanted word train but stay out of the validation recording.", lower_bound=0)
_VALIDATION_LEAVE_OUT = flags.DEFINE_list("validation_leave_out", [], "More other words that "
                                          "train but stay out of the validation recording.")
_TRAIN_STREAMS = flags.DEFINE_integer("train_streams", 12, "Training recordings.", lower_bound=1)
_TRAIN_MINUTES = flags.DEFINE_float("train_minutes", 20.0, "Length of each training recording.",
                                    lower_bound=0.1)
_VALIDATION_MINUTES = flags.DEFINE_float("validation_minutes", 60.0, "The validation "
                                         "recording.", lower_bound=0.1)
_UNKNOWN_SHARE = flags.DEFINE_float("unknown_share", 0.5, "Share of other words in training.",
                                    lower_bound=0.0, upper_bound=1.0)
_SNR_DB = flags.DEFINE_list("snr_db", ["0", "5", "10", "15", "20", "30"], "Training SNRs.")
_MINING_ROUNDS = flags.DEFINE_integer("mining_rounds", 1, "Rounds of hard-negative mining.",
                                      lower_bound=0)
_MINING_STREAMS = flags.DEFINE_integer("mining_streams", 4, "Other-word recordings per round.",
                                       lower_bound=0)
_EPOCHS = flags.DEFINE_integer("epochs", 30, "Epochs per round.", lower_bound=1)
_HIDDEN = flags.DEFINE_integer("hidden", 128, "Width of the head.", lower_bound=1)
_NEGATIVE_WEIGHT = flags.DEFINE_float("negative_weight", 0.3, "Loss weight of a negative step.",
                                      lower_bound=0.0)
_MINING_WEIGHT = flags.DEFINE_float("mining_weight", 5.0, "Loss weight of a mined step.",
                                    lower_bound=0.0)
_POSITIVE_TAIL_MS = flags.DEFINE_float("positive_tail_ms", 400.0, "A step up to this long after "
                                       "a word's end is the word.", lower_bound=1.0)
_FA_PER_HOUR = flags.DEFINE_float("fa_per_hour", 1.0, "False accepts per hour the epoch, round "
                                  "and detector are chosen for.", lower_bound=0.0)
_SEEDS = flags.DEFINE_list("seeds", ["0"], "One head per seed; several: their mean is the "
                           "detector (three gave the README's figures).")
_THREADS = flags.DEFINE_integer("threads", 2, "Front-end threads.", lower_bound=1)

RECIPE_FLAGS = ("data_dir", "wanted_words", "noise_dirs", "negative_dirs", "extra_negative_dirs",
                "validation_percentage", "testing_percentage", "train_splits",
                "validation_confusables", "validation_leave_out", "train_streams", "train_minutes",
                "validation_minutes",
                "unknown_share", "snr_db", "mining_rounds", "mining_streams", "epochs", "hidden",
                "negative_weight", "mining_weight", "positive_tail_ms", "fa_per_hour", "seeds")
"""Flags a head folder depends on: a rerun into it must give the same values."""


def _floats(flag) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in flag.value)
    except ValueError as e:
        raise UserError(f"--{flag.name}: {e}") from e


def main(argv: list[str]) -> None:
    del argv
    # pylint: disable=import-outside-toplevel
    from kws.device import embedding as emb
    from kws.head import labels as sl
    from kws.head import recipe as hr
    from kws.head import streams as hs
    from kws.head import trainer as sh
    from kws.synth import confusables

    words = tuple(w.strip() for w in _WANTED_WORDS.value if w.strip())
    try:
        seeds = [int(s) for s in _SEEDS.value]
    except ValueError as e:
        raise UserError(f"--seeds: {e}") from e
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError("--seeds: give one or more different integers")
    out = _OUTPUT_DIR.value
    leave = tuple(_VALIDATION_LEAVE_OUT.value) + (confusables.expand(
        words, _VALIDATION_CONFUSABLES.value)[len(words):] if _VALIDATION_CONFUSABLES.value else ())
    data = hr.HeadData(data_dir=_DATA_DIR.value, words=words, noise_dirs=tuple(_NOISE_DIRS.value),
                       negative_dirs=tuple(_NEGATIVE_DIRS.value),
                       extra_negative_dirs=tuple(_EXTRA_NEGATIVE_DIRS.value),
                       validation_percentage=_VALIDATION_PERCENTAGE.value,
                       testing_percentage=_TESTING_PERCENTAGE.value,
                       train_splits=tuple(_TRAIN_SPLITS.value), validation_leave_out=leave)
    plan = hr.StreamPlan(train_streams=_TRAIN_STREAMS.value, train_minutes=_TRAIN_MINUTES.value,
                         validation_minutes=_VALIDATION_MINUTES.value,
                         unknown_share=_UNKNOWN_SHARE.value, snr_db=_floats(_SNR_DB),
                         mining_rounds=_MINING_ROUNDS.value, mining_streams=_MINING_STREAMS.value)
    labelling = sl.StepLabelConfig(positive_tail_ms=_POSITIVE_TAIL_MS.value,
                                   late_mask_ms=max(1000.0, _POSITIVE_TAIL_MS.value))
    recipes = [sh.HeadRecipe(keywords=words, hidden=_HIDDEN.value, epochs=_EPOCHS.value,
                             negative_weight=_NEGATIVE_WEIGHT.value,
                             mining_weight=_MINING_WEIGHT.value, fa_per_hour=_FA_PER_HOUR.value,
                             seed=s, labelling=labelling) for s in seeds]
    # Bad trees, words and a missing front end fail here, before recipe.json is written (the
    # pools are indexed once: hr.train uses these).
    _ = data.noise, data.training_pools, data.validation_pools
    for name in (emb.MEL_FILE, emb.EMBEDDING_MODEL_FILE):  # where DeviceEmbedder reads them
        emb.frontend_path(emb.FRONTEND_CACHE, name)
    sh.check_recipe(os.path.join(out, "recipe.json"),
                    {n: flags.FLAGS[n].value for n in RECIPE_FLAGS})
    frontend = {"frontend": emb.FRONTEND_WHEEL}
    done = hr.train(data, plan, recipes, out, _WORKDIR.value or os.path.join(out, "streams"),
                    lambda: hs.DeviceEmbedder(threads=_THREADS.value), frontend)
    print(f"wrote {out} ({len(done['heads'])} head(s)); next: kws-export "
          f"--embedding_head_dir={out} --output_dir={os.path.join(out, 'export')}")
