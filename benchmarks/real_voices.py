r"""12-class accuracy on real voices: train on synthetic speech + some real speakers, test on the others,
with the MLPerf Tiny KWS reference scored on the very same clips in the same run.

    # train (resumable) into <workdir>/run, then score: one row of an ablation per command
    python benchmarks/real_voices.py --real_dir=../shared/data/speech_commands_test_v0.02_dev \
        --noise_dir=../shared/data/_background_noise_ --workdir=runs/rv_reverb --reverb_probability=0.5
    # only build the merged tree (then train on it with kws-train --data_dir=runs/rv/merged_data ...)
    python benchmarks/real_voices.py --real_dir=... --noise_dir=... --workdir=runs/rv --prepare_only
    # score without training: <workdir>/run if it has a checkpoint, plus --run_dirs / --export_dirs
    python benchmarks/real_voices.py --real_dir=... --workdir=runs/real_voices --score_only \
        --export_dirs=runs/real_voices/export

Builds a merged Speech Commands tree (links, nothing copied) from the synthetic default dataset and the
real clips. Real speakers are split by a salted hash of the speaker: --real_train_percentage of them
join the training split, the rest form the test split (so test speakers are never heard). Real
`_unknown_` clips go to their word's folder; real `_silence_` clips stay `_silence_`.
--real_folds=K --real_fold=k hold out the k-th of K equal hash ranges instead (cross-validation:
run every fold to score all real speakers, each by a model that never heard them).
--extra_real_dirs adds more real clips (folder per word) to training and validation by the same
speaker rule; their held-out speakers' clips are left out, so the test split does not change.

Validation: the synthetic dataset's held-out voices (plus the real clips of
--real_validation_percentage of the speakers, taken from the training side). Synthetic voices alone
do not track real ones (best by validation picked epoch 13 of an 80-epoch run: 77.3 % on the
held-out speakers against 81.3 % at its last epoch), so runs are scored at their last checkpoint
unless --checkpoint says otherwise. Trains with kws-train's defaults, the flags here, and any
augmentation flag of kws-train (--reverb_probability, --background_level=snr, ...: every
kws.data.augment.AugmentConfig field, same names and defaults).

The table: the reference (int8, its own features; mlperf_ref.py) on the held-out clips and on every
clip of --real_dir; each kws model on the held-out clips as Keras (float) and int8 (features in:
converted here from a run's checkpoint with kws-export's calibration, or an export folder's
model_features_int8.tflite; an export's waveform-in int8 model too). A scored run must not have heard
any held-out speaker in training or validation; that is checked.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import dataclasses
import hashlib
import json
import os
import sys

import numpy as np
from absl import flags
from absl import logging

import mlperf_ref  # beside this script (benchmarks/ is sys.path[0] when it runs)
from kws import cli
from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.synth import dataset as synth
from kws.errors import UserError
from kws.export import clips
from kws.export import exporter
from kws.export import runner
from kws.export import tflite
from kws.models.config import STREAMABLE_FAMILIES
from kws.models.config import ModelConfig
from kws.training import config as tc
from kws.training import trainer

_REAL_DIR = flags.DEFINE_string("real_dir", None, "Real clips (12-class layout).", required=True)
_NOISE_DIR = flags.DEFINE_string("noise_dir", "", "Real background noise to add to the synthetic noise.")
_SYNTH_DIR = flags.DEFINE_string("synth_dir", synth.DEFAULT_SYNTH_DIR,
                                 "The synthetic default dataset (generated if missing).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/real_voices", "Working directory: merged_data/ "
                               "and the training run in run/.")
_REAL_TRAIN_PERCENTAGE = flags.DEFINE_float("real_train_percentage", 50.0,
                                            "Share of real speakers used for training.")
_REAL_FOLDS = flags.DEFINE_integer(
    "real_folds", 0, "If > 0: cross-validation folds of real speakers. Fold --real_fold holds out "
    "the speakers whose hash percentage lies in [100 k/K, 100 (k+1)/K) and trains on the rest "
    "(--real_train_percentage is then 100 - 100/K). --real_folds=2 --real_fold=1 is the default "
    "50 %% split.", lower_bound=0)
_REAL_FOLD = flags.DEFINE_integer("real_fold", 0, "Which fold is held out (0 .. --real_folds - 1).",
                                  lower_bound=0)
_REAL_VALIDATION_PERCENTAGE = flags.DEFINE_float(
    "real_validation_percentage", 0.0, "Share of real speakers, taken from the training side, "
    "whose clips join the validation split (so the best checkpoint is chosen on real voices too); "
    "the held-out test speakers stay the same.")
_REAL_REPEAT = flags.DEFINE_integer("real_repeat", 1, "Times each real training clip is in the "
                                    "training split (oversampling real voices).", lower_bound=1)
_EXTRA_REAL_DIRS = flags.DEFINE_list(
    "extra_real_dirs", [], "More real clips in folder-per-word trees (e.g. "
    "../shared/data/speech_commands_v0.01_unknown_words): a word that is not a keyword is an "
    "`_unknown_` example. Their speakers are split by the same rule as --real_dir's; the clips of "
    "held-out speakers are left out (the held-out clips stay --real_dir's).")
_EXTRA_REAL_REPEAT = flags.DEFINE_integer("extra_real_repeat", 1, "Times each --extra_real_dirs "
                                          "training clip is in the training split.", lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", 60, "Epochs.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 50, "Batch size.")
_MODEL = flags.DEFINE_string("model", "ds_cnn", "Model family.")
_STREAMABLE = flags.DEFINE_bool("streamable", True, "Build ds_cnn / bc_resnet streamable (as "
                                 "kws-train's --streamable).")
_SYNTHETIC_TRAINING = flags.DEFINE_bool(
    "synthetic_training", True, "Train on the synthetic voices too (--nosynthetic_training: real "
    "speech only; synthetic voices still validate).")
_PREPARE_ONLY = flags.DEFINE_bool("prepare_only", False, "Only build <workdir>/merged_data (for "
                                  "kws-train --data_dir=...; e.g. kws/pretrained/*/train.flags).")
_SCORE_ONLY = flags.DEFINE_bool("score_only", False, "Do not train: score <workdir>/run (when it "
                                "has a best checkpoint), --run_dirs and --export_dirs.")
_RUN_DIRS = flags.DEFINE_list("run_dirs", [], "More kws-train working directories to score.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "last", "Checkpoint of <workdir>/run and --run_dirs to score: last (the end of "
    "the cosine schedule), best (by validation accuracy: the synthetic voices', which does not "
    "track real voices), or a .keras file.")
_EXPORT_DIRS = flags.DEFINE_list("export_dirs", [], "kws-export folders to score.")
_PEER_MODEL = flags.DEFINE_string("peer_model", mlperf_ref.MODEL_PATH,
                                  "The MLPerf Tiny KWS reference model.")
_CALIBRATION_CLIPS = flags.DEFINE_integer(
    "calibration_clips", 400, "Training clips that calibrate the int8 conversion of a run scored "
    "without an export (kws-export's default and seed).", lower_bound=1)
_CALIBRATION_SEED = flags.DEFINE_integer("calibration_seed", 0, "Which training clips calibrate.")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the table's rows to this JSON file.")


def _augment_flags() -> dict:
    """One flag per AugmentConfig field, named and defaulted as the field (as kws-train's are)."""
    define = {float: flags.DEFINE_float, int: flags.DEFINE_integer, str: flags.DEFINE_string}
    return {field.name: define[type(field.default)](
        field.name, field.default, f"Training augmentation (kws-train --{field.name}).")
        for field in dataclasses.fields(augment.AugmentConfig)}


_AUGMENT = _augment_flags()


def _link(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not os.path.lexists(dst):
        os.symlink(os.path.abspath(src), dst)


def _percent(speaker: str) -> float:
    """A stable 0-100 value per speaker. Not the dataset's own hash rule: the canonical test clips were
    chosen by that rule, so all of them fall into one narrow band of it."""
    digest = hashlib.sha1(f"kws-real-voices:{speaker}".encode()).hexdigest()
    return int(digest, 16) % 10000 / 100.0


SPLIT_FILE = "real_voices_split.json"
"""Written into the merged tree: what it was built from. Rebuilding a tree with another split
would leave links of the old split in it (and a run trained on it would then be checked against
the wrong split), so that is refused."""


def _claim_merged_tree(out: str, recipe: dict) -> None:
    path = os.path.join(out, SPLIT_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
        changed = sorted(k for k in recipe.keys() | before.keys() if before.get(k) != recipe.get(k))
        if changed:
            raise UserError(f"{out} was built with other settings ({', '.join(changed)}); a tree "
                            "keeps its split: choose another --workdir")
        return
    if os.path.lexists(out) and os.listdir(out):
        raise UserError(f"{out} exists but has no {SPLIT_FILE} (built by an earlier version or "
                        "not by this script): remove it or choose another --workdir")
    os.makedirs(out, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(recipe, f, indent=2)


def build_merged_tree(synth_dir: str, real_dir: str, noise_dir: str, out: str,
                      real_train_percentage: float, real_repeat: int = 1,
                      real_validation_percentage: float = 0.0,
                      extra_real_dirs: tuple[str, ...] = (), extra_real_repeat: int = 1,
                      rotate_percentage: float = 0.0, synthetic_training: bool = True) -> dict:
    """Links both datasets into ``out`` with list files; returns counts of real speakers per split.
    Each real training clip is linked ``real_repeat`` times (same speaker in the name). Speakers
    whose hash percentage lies in [real_train_percentage - real_validation_percentage,
    real_train_percentage) go to validation instead of training. ``extra_real_dirs`` are
    folder-per-word trees split by the same rule, except that their held-out speakers' clips are
    left out; each of their training clips is linked ``extra_real_repeat`` times. Each speaker's
    hash percentage is first rotated: (percentage - rotate_percentage) mod 100 (for folds).
    Without ``synthetic_training`` only the synthetic validation voices are linked (speech in
    training is then real only; the synthetic background noise stays)."""
    if not 0 <= real_validation_percentage <= real_train_percentage:
        raise UserError("--real_validation_percentage must be in [0, --real_train_percentage]")
    extra_words = []
    for extra in extra_real_dirs:
        if not os.path.isdir(extra):
            raise UserError(f"--extra_real_dirs: {extra} is not a folder")
        words = [w for w in sorted(os.listdir(extra)) if os.path.isdir(os.path.join(extra, w))
                 and not w.startswith("_")]
        if not words:
            raise UserError(f"--extra_real_dirs: {extra} has no word folders")
        extra_words.append((extra, words))
    _claim_merged_tree(out, {
        "synth_dir": os.path.abspath(synth_dir), "real_dir": os.path.abspath(real_dir),
        "noise_dir": os.path.abspath(noise_dir) if noise_dir else "",
        "real_train_percentage": real_train_percentage, "rotate_percentage": rotate_percentage,
        "real_validation_percentage": real_validation_percentage, "real_repeat": real_repeat,
        "extra_real_dirs": [os.path.abspath(d) for d in extra_real_dirs],
        "extra_real_repeat": extra_real_repeat, "synthetic_training": synthetic_training})
    testing, validation = [], []
    with open(os.path.join(synth_dir, "validation_list.txt"), encoding="utf-8") as f:
        validation = [line.strip() for line in f if line.strip()]
    with open(os.path.join(synth_dir, "testing_list.txt"), encoding="utf-8") as f:
        synth_test = {line.strip() for line in f if line.strip()}  # not used here at all
    synth_validation = set(validation)
    for word in os.listdir(synth_dir):
        folder = os.path.join(synth_dir, word)
        if not os.path.isdir(folder) or word == sc.BACKGROUND_NOISE_DIR:
            continue
        for name in os.listdir(folder):
            rel = f"{word}/{name}"
            if rel not in synth_test and (synthetic_training or rel in synth_validation):
                _link(os.path.join(folder, name), os.path.join(out, word, name))
    for folder in (os.path.join(synth_dir, sc.BACKGROUND_NOISE_DIR), noise_dir):
        if folder:
            for name in os.listdir(folder):
                if name.endswith(".wav"):
                    _link(os.path.join(folder, name),
                          os.path.join(out, sc.BACKGROUND_NOISE_DIR, name))
    speakers = {"train": set(), "validation": set(), "test": set()}

    def split_of(speaker: str) -> str:
        percent = (_percent(speaker) - rotate_percentage) % 100.0
        return ("test" if percent >= real_train_percentage else "validation"
                if percent >= real_train_percentage - real_validation_percentage else "train")

    for label in os.listdir(real_dir):
        folder = os.path.join(real_dir, label)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            word = name.split("_", 1)[0] if label == sc.UNKNOWN_LABEL else label
            rel = f"{word}/real_{name}"
            speaker = sc.speaker_id(name)
            split = split_of(speaker)
            _link(os.path.join(folder, name), os.path.join(out, rel))
            if split == "test":
                testing.append(rel)
            elif split == "validation":
                validation.append(rel)
            else:  # more links to the same clip: real voices weigh more in training
                for copy in range(1, real_repeat):
                    _link(os.path.join(folder, name),
                          os.path.join(out, word, f"real{copy}_{name}"))
            if label != sc.SILENCE_LABEL:  # silence clips are named by number, not by speaker
                speakers[split].add(speaker)
    for index, (extra, words) in enumerate(extra_words):
        for word in words:
            for name in sorted(os.listdir(os.path.join(extra, word))):
                if not name.endswith(".wav"):
                    continue
                speaker = sc.speaker_id(name)
                split = split_of(speaker)
                if split == "test":  # only --real_dir's clips are scored
                    continue
                src = os.path.join(extra, word, name)
                _link(src, os.path.join(out, word, f"extra{index}_{name}"))
                if split == "validation":
                    validation.append(f"{word}/extra{index}_{name}")
                else:  # training: more links to the same clip, as for --real_dir's clips
                    for copy in range(1, extra_real_repeat):
                        _link(src, os.path.join(out, word, f"extra{index}r{copy}_{name}"))
                speakers[split].add(speaker)
    for name, lines in (("validation_list.txt", validation), ("testing_list.txt", testing)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write("\n".join(sorted(lines)) + "\n")
    return {k: len(v) for k, v in speakers.items()}


def real_speakers(examples, real_dir: str | None) -> set[str]:
    """Speakers of the examples that are (links to) clips of ``real_dir`` (of any folder when
    None: a run's own tree may hold real clips from --extra_real_dirs too), _silence_ left out."""
    root = os.path.realpath(real_dir) + os.sep if real_dir else ""
    return {sc.speaker_id(os.path.basename(os.path.realpath(e.path))) for e in examples
            if e.path and e.label != sc.SILENCE_LABEL and os.path.realpath(e.path).startswith(root)}


def _row(model: str, examples, real_dir: str, truth, predicted, int8_bytes: int | None) -> dict:
    """One model's score; ``per_label`` is {label: [right, clips]} (the label of each example)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    names = np.array([e.label for e in examples])
    per_label = {str(label): [int(np.sum((names == label) & (truth == predicted))),
                              int(np.sum(names == label))] for label in sorted(set(names))}
    return {"model": model, "clips": int(len(truth)),
            "speakers": len(real_speakers(examples, real_dir)),
            "accuracy": float(np.mean(truth == predicted)),
            "int8_bytes": int8_bytes, "per_label": per_label}


def score_kws(name: str, workdir: str, checkpoint: str, export_dir: str | None,
              held_out: sc.DatasetIndex, real_dir: str) -> list[dict]:
    """Rows of one kws model (Keras float, int8 features in, and an export's int8 waveform in) on
    the held-out test split, after checking that its run never heard a held-out speaker."""
    config, labels, body = exporter.load_run(workdir, checkpoint)
    if tuple(labels) != held_out.labels:
        raise UserError(f"{workdir} was trained on labels {list(labels)}; the held-out clips "
                        f"have {list(held_out.labels)}")
    run_index = sc.index_dataset(config.data)
    heard = real_speakers(run_index.splits["train"] + run_index.splits["validation"], None)
    both = heard & real_speakers(held_out.splits["test"], real_dir)
    if both:
        raise UserError(f"{workdir} heard {len(both)} of the held-out speakers in training or "
                        f"validation (e.g. {sorted(both)[:3]}); score a run trained by this script "
                        "with the same speaker split (--real_train_percentage or --real_fold)")
    features, clip = config.features, config.features.clip_samples
    noise = pl.load_noise(held_out, clip, config.data.sample_rate_hz)
    truth, feats = [], []
    for x, y in pl.make_dataset(held_out, "test", features, config.pipeline, noise=noise):
        truth.append(y.numpy())
        feats.append(x.numpy())
    truth, feats = np.concatenate(truth), np.concatenate(feats)
    tests = held_out.splits["test"]
    keras_predicted = np.argmax(body.predict(feats, batch_size=500, verbose=0), -1)
    rows = [_row(f"{name} (Keras float)", tests, real_dir, truth, keras_predicted, None)]
    norm = tflite.InputNormalization.of(body)
    if export_dir:
        int8 = _read(os.path.join(export_dir, "model_features_int8.tflite"))
        # an export made before the normalisation moved out of the graph takes raw features
        norm = tflite.InputNormalization.load(export_dir)
    else:
        run_noise = pl.load_noise(run_index, clip, config.data.sample_rate_hz)
        calibration = clips.calibration_waveforms(run_index, _CALIBRATION_CLIPS.value,
                                                  _CALIBRATION_SEED.value, features,
                                                  config.pipeline, run_noise)
        int8 = tflite.convert_features_int8(
            tflite.features_model(body),
            norm.apply(tflite.compute_features_batched(calibration, features)))
    predicted = np.argmax(runner.TfliteClassifier(int8).predict(
        norm.apply(feats) if norm else feats), -1)
    rows.append(_row(f"{name} (int8, features in)", tests, real_dir, truth, predicted, len(int8)))
    if export_dir:
        waveform_int8 = _read(os.path.join(export_dir, "model_int8.tflite"))
        waves = np.concatenate([w for w, _ in clips.waveform_batches(
            held_out, "test", features, config.pipeline, noise)])
        predicted = np.argmax(runner.TfliteClassifier(waveform_int8).predict(waves), -1)
        rows.append(_row(f"{name} (int8, waveform in)", tests, real_dir, truth, predicted,
                         len(waveform_int8)))
    return rows


def score_reference(model: bytes, held_out: sc.DatasetIndex, real_dir: str) -> list[dict]:
    """The reference on the held-out clips and on every clip of ``real_dir``."""
    rows = []
    whole = mlperf_ref.whole_folder(real_dir)
    for label, index in (("held-out clips", held_out), (f"all of {os.path.basename(real_dir)}",
                                                         whole)):
        noise = pl.load_noise(index, mlperf_ref.FEATURES.clip_samples,
                              mlperf_ref.FEATURES.sample_rate_hz)
        truth, predicted = mlperf_ref.predict(model, index, "test", noise)
        rows.append(_row(f"MLPerf Tiny reference, {label}", index.splits["test"], real_dir,
                         truth, predicted, len(model)))
    return rows


def _read(path: str) -> bytes:
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist; pass a kws-export output folder")
    with open(path, "rb") as f:
        return f.read()


def format_table(rows: list[dict]) -> str:
    width = max(len(r["model"]) for r in rows)
    lines = [f"{'model':<{width}} {'clips':>6} {'speakers':>9} {'accuracy':>9} {'int8 bytes':>11}"
             f" {'_unknown_':>9}"]
    for r in rows:
        size = f"{r['int8_bytes']:,}" if r["int8_bytes"] else "-"
        right, clips = r["per_label"].get(sc.UNKNOWN_LABEL, (0, 0))
        unknown = f"{right / clips:.1%}" if clips else "-"
        lines.append(f"{r['model']:<{width}} {r['clips']:>6} {r['speakers']:>9} "
                     f"{r['accuracy']:>9.2%} {size:>11} {unknown:>9}")
    return "\n".join(lines)


def _augmentation() -> augment.AugmentConfig:
    try:
        return augment.AugmentConfig(**{k: v.value for k, v in _AUGMENT.items()})
    except ValueError as e:
        raise UserError(f"augmentation flags: {e}") from e


def _train(merged: str, run_dir: str, augmentation: augment.AugmentConfig) -> None:
    config = tc.TrainConfig(
        data=sc.DataConfig(data_dir=merged),
        features=frontend.FrontendConfig(),
        augment=augmentation,
        pipeline=pl.PipelineConfig(batch_size=_BATCH_SIZE.value),
        model=ModelConfig(name=_MODEL.value,
                          streamable=_STREAMABLE.value and _MODEL.value in STREAMABLE_FAMILIES),
        epochs=_EPOCHS.value)
    trainer.train_and_evaluate(config, run_dir)


def _split() -> tuple[float, float, str]:
    """(training percentage, rotation, a description) of the real speaker split the flags ask."""
    folds, fold = _REAL_FOLDS.value, _REAL_FOLD.value
    if not folds:
        return _REAL_TRAIN_PERCENTAGE.value, 0.0, \
            f"--real_train_percentage={_REAL_TRAIN_PERCENTAGE.value:g}"
    if _REAL_TRAIN_PERCENTAGE.present:
        raise UserError("--real_train_percentage and --real_folds are exclusive: with folds, "
                        "training takes every fold but the held-out one")
    if not folds >= 2 or fold >= folds:
        raise UserError(f"--real_fold={fold} of --real_folds={folds}: need 2 or more folds and "
                        "a fold in [0, folds)")
    return 100.0 - 100.0 / folds, 100.0 * (fold + 1) / folds % 100.0, \
        f"fold {fold} of {folds}"


def main(argv):
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's converter logs at INFO under absl
    augmentation = _augmentation()  # checked before any slow work
    train_percentage, rotate, split_name = _split()
    low = (train_percentage + rotate) % 100.0
    held_out_range = [low, low + 100.0 - train_percentage]  # never wraps: rotation is by folds
    synth_dir = synth.ensure_default_dataset(_SYNTH_DIR.value)
    real_dir = _REAL_DIR.value
    merged = os.path.join(_WORKDIR.value, "merged_data")
    speakers = build_merged_tree(synth_dir, real_dir, _NOISE_DIR.value, merged,
                                 train_percentage, _REAL_REPEAT.value,
                                 _REAL_VALIDATION_PERCENTAGE.value,
                                 tuple(_EXTRA_REAL_DIRS.value), _EXTRA_REAL_REPEAT.value, rotate,
                                 _SYNTHETIC_TRAINING.value)
    run_dir = os.path.join(_WORKDIR.value, "run")
    if _PREPARE_ONLY.value:
        print(f"{merged}: real speakers {speakers['train']} in training, "
              f"{speakers['validation']} in validation, {speakers['test']} held out (hash "
              f"percentage in [{held_out_range[0]:g}, {held_out_range[1]:g}))")
        return
    if not _SCORE_ONLY.value:
        _train(merged, run_dir, augmentation)
    held_out = sc.index_dataset(sc.DataConfig(data_dir=merged))  # as the run's test split
    models = [(f"kws {d}", d, _CHECKPOINT.value, None) for d in _RUN_DIRS.value]
    if not _SCORE_ONLY.value or os.path.isfile(os.path.join(run_dir, "checkpoints", "best.keras")):
        models.insert(0, (f"kws {run_dir}", run_dir, _CHECKPOINT.value, None))
    for folder in _EXPORT_DIRS.value:
        if not os.path.isfile(os.path.join(folder, exporter.REPORT_FILE)):
            raise UserError(f"{folder} is not a kws-export folder (no {exporter.REPORT_FILE})")
        report = exporter.load_report(folder)
        models.append((f"kws export {folder}", report["workdir"], report["checkpoint"], folder))
    reference_held_out, reference_all = score_reference(mlperf_ref.read(_PEER_MODEL.value),
                                                        held_out, real_dir)
    rows = [reference_held_out]
    for name, workdir, checkpoint, export_dir in models:
        rows += score_kws(name, workdir, checkpoint, export_dir, held_out, real_dir)
    rows.append(reference_all)
    print(f"\nreal speakers: {speakers['train']} in training, {speakers['validation']} in "
          f"validation, {speakers['test']} held out "
          f"({split_name})")
    print(format_table(rows))
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump({"real_speakers": speakers, "held_out_hash_percent": held_out_range,
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
