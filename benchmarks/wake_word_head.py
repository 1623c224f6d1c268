r"""Wake words from synthetic speech alone on a frozen speech embedding, trained on the time axis
(openWakeWord's kind of model, issue 13's recipe), scored as wake_word.py scores: alexa, computer,
jarvis on the real crowd-sourced clips, false accepts on the same 2-hour real negative stream,
openWakeWord's pretrained alexa in the same run.

    nice -n 10 python benchmarks/wake_word_head.py --seed=0

Steps (each cached under --workdir, so a killed run continues):
1. `kws synth` (default engines; custom_word.py's step, the same set as wake_word.py's): the wake
   words, their confusables (wake_word.WAKE_CONFUSABLES) and custom_word's other words; with
   --positive_engines, each of those engines says the wake words alone (more positive voices).
2. Training recordings (kws.stream_eval.recording, --train_streams x --train_minutes, real noise
   of --train_noise_dirs at --train_snr_db): the wake words of the synthetic set's training and
   test voices (the real clips are the test here; the synthetic validation voices are held out)
   among other words: the synthetic set's other words, real speech of the training speakers of
   --negative_dirs (the speaker rule: their test speakers are in the scored stream) and every
   clip of --extra_negative_dirs (real v0.01 bed/cat/happy, and the default synthetic dataset's
   words) but the ten Speech Commands keywords, whose real clips make the scored stream: neither
   a real wake word nor any rendition of the scored negative words is heard in training.
3. kws.head.trainer: per-step targets (a wake word's steps are positive for --positive_tail_ms
   after its end, cut-off words negative), Adam for --head_epochs, the epoch with the fewest
   misses at --fa_per_hour on a validation stream of the synthetic validation voices among real
   other speech of the validation speakers of --negative_dirs (or the last epoch); mining rounds
   on new recordings of other words; the detector calibrated on the validation stream (head
   folder: head.keras, head.json, detector.json, train_report.json).
4. wake_word.py's scoring: the head (embedding_stream.EmbeddingSource, a posterior every 80 ms)
   and openWakeWord hear the same padded real clips and the same negative stream; per budget the
   threshold is the DET point on the negative stream; plus the head's own calibrated detector
   (chosen on validation audio only): its misses and false accepts per hour. With
   --ensemble_seeds, steps 3-4 run for each seed and the mean of the heads' posteriors (one
   embedding, several heads) is scored too, with its own detector calibrated on a validation
   stream arranged unlike any of its heads' (--workdir/ensembles/<heads>).
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

import custom_word as cw  # beside this script; its flags (workdir, words, seed, ...) are ours too
import embedding_onnx as eo
import embedding_stream
import wake_word as ww  # its flags (stream_minutes, noise_dirs, budgets, ...) are ours too
from kws import cli
from kws.data import speech_commands as sc
from kws.device import detect
from kws.head import labels as sl
from kws.head import recipe as hr
from kws.head import streams as hs
from kws.head import trainer as sh
from kws.stream_eval import calibrate
from kws.stream_eval import recording as rec

_DEFAULTS = dict(ww._DEFAULTS, negative_dirs=[os.path.join(
    cw._SHARED_DATA, "arabic_speech_commands_negatives")])
_EXTRA_NEGATIVE_DIRS = flags.DEFINE_list("extra_negative_dirs", [
    os.path.join(cw._SHARED_DATA, "speech_commands_v0.01_unknown_words"),
    os.path.join(os.path.expanduser("~"), ".cache", "kws", "synthetic")],
    "Other speech for training only: every clip but those in a folder named like a Speech "
    "Commands keyword (the scored negative stream is made of real ones: its words stay unknown "
    "to training, as custom_word.py keeps them) or like a wake word.")
_TRAIN_NOISE_DIRS = flags.DEFINE_list("train_noise_dirs", [
    os.path.join(cw._SHARED_DATA, "_background_noise_"),
    os.path.join(cw._SHARED_DATA, "_background_noise_more")], "Noise under the training words.")
_POSITIVE_ENGINES = flags.DEFINE_list("positive_engines", [], "Opt-in engines (kokoro, rhvoice, "
                                      "pico) that say only the wake words, each its own set of "
                                      "--opt_in_speakers speakers: more voices of the positives.")
_TRAIN_STREAMS = flags.DEFINE_integer("train_streams", 12, "Training recordings.")
_TRAIN_MINUTES = flags.DEFINE_float("train_minutes", 20.0, "Length of each training recording.")
_VALIDATION_MINUTES = flags.DEFINE_float("validation_minutes", 120.0, "The validation stream.")
_UNKNOWN_SHARE = flags.DEFINE_float("unknown_share", 0.5, "Share of other words in training.")
_TRAIN_SNR_DB = flags.DEFINE_list("train_snr_db", ["0", "5", "10", "15", "20", "30"],
                                  "Training SNRs.")
_POSITIVE_TAIL_MS = flags.DEFINE_float("positive_tail_ms", 400.0, "kws.head.labels.")
_NEGATIVE_WEIGHT = flags.DEFINE_float("negative_weight", 0.3, "Loss weight of negative steps.")
_MINING_ROUNDS = flags.DEFINE_integer("mining_rounds", 1, "Rounds of hard-negative mining.")
_MINING_STREAMS = flags.DEFINE_integer("mining_streams", 4, "Other-word recordings per round.")
_MINING_WEIGHT = flags.DEFINE_float("mining_weight", 5.0, "Loss weight of a mined step.")
_HEAD_EPOCHS = flags.DEFINE_integer("head_epochs", 30, "Epochs per round.")
_EPOCH_CHOICE = flags.DEFINE_enum("epoch_choice", "validation", list(sh.EPOCH_CHOICES),
                                  "The epoch kept: fewest validation misses, or the last.")
_HIDDEN = flags.DEFINE_integer("hidden", 128, "Width of the head.")
_FA_PER_HOUR = flags.DEFINE_float("fa_per_hour", 1.0, "Budget of epoch choice and calibration.")
_VALIDATION_CONFUSABLES = flags.DEFINE_bool(
    "validation_confusables", False, "Keep the confusable words in the validation stream (by "
    "default they train but do not validate: a third of its other words would be near-homophones "
    "of the wake words, which ordinary speech is not, and they would set its 1-FA/h threshold).")
_ENSEMBLE_SEEDS = flags.DEFINE_list("ensemble_seeds", [], "Train a head for each of these seeds "
                                    "(instead of --seed alone), score each, and score the mean "
                                    "of their posteriors.")
_ENSEMBLE_FA_PER_HOUR = flags.DEFINE_float(
    "ensemble_fa_per_hour", None, "Budget of the ensemble's calibration on its validation stream "
    "(default: --fa_per_hour, the heads' own).", lower_bound=0.0)
_HEAD_DIR = flags.DEFINE_string("head_dir", None, "The head's folder (default: <workdir>/"
                                "heads/<recipe name>).")

RECIPE_FLAGS = ("words", "engines", "num_speakers", "synth_seed", "positive_engines",
                "opt_in_speakers", "negative_dirs",
                "extra_negative_dirs", "train_noise_dirs", "validation_percentage",
                "testing_percentage", "train_streams", "train_minutes", "validation_minutes",
                "unknown_share", "train_snr_db", "positive_tail_ms", "negative_weight",
                "mining_streams", "mining_weight", "head_epochs", "epoch_choice", "hidden",
                "validation_confusables",
                "fa_per_hour", "seed")
"""The flags a trained head depends on (a rerun into its folder must give the same values)."""


def head_dir(recipe_flags: tuple[str, ...] = RECIPE_FLAGS) -> str:
    """--head_dir, or a name made of the recipe flags that differ from their defaults."""
    if _HEAD_DIR.value:
        return _HEAD_DIR.value
    changed = [f"{n}={flags.FLAGS[n].value}" for n in recipe_flags
               if n != "seed" and flags.FLAGS[n].value != flags.FLAGS[n].default]
    name = "head" + ("_" + hashlib.sha1(repr(changed).encode()).hexdigest()[:8]
                     if changed else "") + f"_s{cw._SEED.value}"
    return os.path.join(cw._WORKDIR.value, "heads", name)


def without_words(pools: rec.ClipPools, words: list[str]) -> rec.ClipPools:
    """``pools`` without the other-word clips in a folder named like one of ``words``."""
    leave = set(words)
    return dataclasses.replace(pools, unknown=tuple(
        p for p in pools.unknown if os.path.basename(os.path.dirname(p)) not in leave))


def training_pools(data_dir: str, words: tuple[str, ...], splits: tuple[str, ...],
                   leave_out: tuple[str, ...] = (),
                   real_negatives: dict[str, tuple[str, ...]] | None = None) -> rec.ClipPools:
    """The synthetic set's ``splits`` and --negative_dirs' speakers of the same ``splits``
    (their test speakers are never trained on) and ``real_negatives`` (split -> other-word clips
    the caller has split by speaker), with every --extra_negative_dirs clip when training (but
    those in a folder named in ``leave_out``)."""
    data = sc.DataConfig(data_dir=data_dir, label_mode="all_words",
                         validation_percentage=cw._VALIDATION_PERCENTAGE.value,
                         testing_percentage=cw._TESTING_PERCENTAGE.value)
    parts = [rec.clip_pools(data, s, words) for s in splits]
    merged = rec.ClipPools(keywords={w: tuple(p for part in parts for p in part.keywords[w])
                                     for w in words},
                           unknown=tuple(p for part in parts for p in part.unknown))
    own = tuple(s for s in splits if s != "test")
    for split in own:
        merged = rec.with_negatives(merged, data, split, cw._NEGATIVE_DIRS.value)
        merged = dataclasses.replace(merged, unknown=merged.unknown + tuple(
            (real_negatives or {}).get(split, ())))
    if "train" in splits:
        extra = rec.ClipPools(keywords={}, unknown=tuple(
            p for d in _EXTRA_NEGATIVE_DIRS.value for p in hs.audio_files(d)))
        extra = without_words(extra, list(sc.SPEECH_COMMANDS_KEYWORDS) + list(words)
                              + list(leave_out))
        merged = dataclasses.replace(merged, unknown=merged.unknown + extra.unknown)
    return merged


def recipe(words: tuple[str, ...]) -> sh.HeadRecipe:
    return sh.HeadRecipe(keywords=words, hidden=_HIDDEN.value, epochs=_HEAD_EPOCHS.value,
                         negative_weight=_NEGATIVE_WEIGHT.value,
                         mining_weight=_MINING_WEIGHT.value, fa_per_hour=_FA_PER_HOUR.value,
                         seed=cw._SEED.value, epoch_choice=_EPOCH_CHOICE.value,
                         labelling=sl.StepLabelConfig(positive_tail_ms=_POSITIVE_TAIL_MS.value))


ENSEMBLE_VALIDATION_SEED = hr.ENSEMBLE_VALIDATION_SEED


def _embeddings() -> hs.Embeddings:
    workdir = cw._WORKDIR.value
    return hs.Embeddings(os.path.join(workdir, "head_streams"),
                         lambda: eo.Embedder(eo.resources(workdir), 2), _TRAIN_NOISE_DIRS.value)


def validation_stream(data_dir: str, words: tuple[str, ...], confusables: list[str],
                      real_negatives: dict[str, tuple[str, ...]] | None, seed: int) -> hs.Stream:
    """Step 3's validation stream (cached): the synthetic validation voices' words among the
    validation speakers' other speech, arranged by ``seed``."""
    pools = training_pools(data_dir, words, ("validation",), real_negatives=real_negatives)
    if not _VALIDATION_CONFUSABLES.value:
        pools = without_words(pools, confusables)
    print(f"validation: {sum(map(len, pools.keywords.values()))} word clips, "
          f"{len(pools.unknown)} other", flush=True)
    return _embeddings().stream("validation", pools, rec.RecordingConfig(
        duration_s=60 * _VALIDATION_MINUTES.value, seed=seed, unknown_share=0.5, **hr.GAPS))


def ensemble_detector(heads: list[str], validation: hs.Stream, out: str) -> detect.DetectorConfig:
    """The detector of the mean posterior of ``heads``, calibrated on ``validation`` as each head's
    own is (kws.head.recipe.calibrate_ensemble, for ensemble_budget()): ``out``/detector.json, with
    ensemble.json naming the heads (made unless there)."""
    if not os.path.isfile(os.path.join(out, detect.DETECTOR_FILE)):
        hr.calibrate_ensemble(heads, validation, out, ensemble_budget())
    detector, _ = detect.load_detector_file(out)
    return detector


def ensemble_budget() -> float:
    """FA/h of the ensemble's calibration: --ensemble_fa_per_hour, or --fa_per_hour."""
    budget = _ENSEMBLE_FA_PER_HOUR.value
    return _FA_PER_HOUR.value if budget is None else budget


def ensemble_dir(heads: list[str]) -> str:
    """--workdir/ensembles/<the heads' names joined by +>[_fa<--ensemble_fa_per_hour>]: the
    ensemble's detector and results."""
    budget = _ENSEMBLE_FA_PER_HOUR.value
    return os.path.join(cw._WORKDIR.value, "ensembles",
                        "+".join(os.path.basename(h) for h in heads)
                        + ("" if budget is None else f"_fa{budget:g}"))


def train_head(data_dir: str, words: tuple[str, ...], confusables: list[str], out: str,
               recipe_flags: tuple[str, ...] = RECIPE_FLAGS, leave_out: tuple[str, ...] = (),
               real_negatives: dict[str, tuple[str, ...]] | None = None) -> None:
    """Trains, mines and calibrates the head into ``out`` (step 3), unless it is there;
    ``leave_out`` and ``real_negatives``: training_pools'."""
    if os.path.isfile(os.path.join(out, "detector.json")):
        return
    train_pools = training_pools(data_dir, words, ("train", "test"), leave_out, real_negatives)
    validation = validation_stream(data_dir, words, confusables, real_negatives,
                                   1000 + cw._SEED.value)
    plan = hr.StreamPlan(train_streams=_TRAIN_STREAMS.value, train_minutes=_TRAIN_MINUTES.value,
                         validation_minutes=_VALIDATION_MINUTES.value,
                         unknown_share=_UNKNOWN_SHARE.value,
                         snr_db=tuple(float(v) for v in _TRAIN_SNR_DB.value),
                         mining_rounds=_MINING_ROUNDS.value, mining_streams=_MINING_STREAMS.value)
    hr.train_head(train_pools, validation, plan, recipe(words), out, _embeddings(),
                  eo.head_frontend(cw._WORKDIR.value), note={"flags": {
                      n: flags.FLAGS[n].value for n in recipe_flags + ("mining_rounds",)}})


def synthetic_data(words: list[str], confusables: list[str]) -> str:
    """Step 1: the merged synthetic tree of --engines (the words, ``confusables`` and
    --other_words) and --positive_engines (the words alone), each set made unless it is there."""
    workdir = cw._WORKDIR.value
    all_words = cw.synth_words(words, confusables, cw._OTHER_WORDS.value)
    groups = cw.engine_groups(list(cw._ENGINES.value))
    set_dirs = [cw.synthesize(g, all_words, workdir) for g in groups]
    extra = cw.engine_groups(list(_POSITIVE_ENGINES.value)) if _POSITIVE_ENGINES.value else []
    set_dirs += [cw.synthesize(g, words, os.path.join(workdir, "positives")) for g in extra]
    return cw.merge_sets(set_dirs, os.path.join(workdir, "data", "+".join(
        groups + [f"{g}-positives" for g in extra])))


def calibrated_row(scans: dict, labels: tuple[str, ...], words: list[str], hours: float,
                   detector: detect.DetectorConfig) -> dict:
    """Per word, the head's own detector (window and thresholds chosen on validation audio) run as
    on the device (kws.stream_eval.calibrate.run_fast): the share of its clips where it never
    reports the word, and its reports of the word on the negative stream per hour."""
    fired = calibrate.run_fast(labels, detector, scans["stream:times"], scans["stream:post"])
    out = {}
    for word in words:
        bounds = np.concatenate([[0], np.cumsum(scans[f"{word}:lengths"])])
        missed = [not any(d.label == word for d in calibrate.run_fast(
            labels, detector, scans[f"{word}:times"][a:b], scans[f"{word}:post"][a:b]))
            for a, b in zip(bounds, bounds[1:])]
        out[word] = {"threshold": detector.threshold_of(word),
                     "average_window_ms": detector.average_window_ms,
                     "miss_rate": float(np.mean(missed)),
                     "fa_per_hour": sum(d.label == word for d in fired) / hours}
    return out


def mean_scans(scans: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """wake_word.scan outputs of several heads on the same audio, their posteriors averaged (an
    ensemble of heads on one embedding)."""
    return {k: np.mean([s[k] for s in scans], axis=0) if k.endswith(":post") else scans[0][k]
            for k in scans[0]}


def main(argv: list[str]) -> int:
    del argv
    import oww_peer  # pylint: disable=import-outside-toplevel  (beside this script)

    words, workdir = list(cw._WORDS.value), cw._WORKDIR.value
    budgets, windows = ww._positive_floats(ww._BUDGETS), ww._positive_floats(ww._AVERAGE_WINDOWS_MS)
    confusables = ww.wake_confusables(words, cw._CONFUSABLES.value,
                                      cw._CONFUSABLES_PER_WORD.value, tuple(cw._OTHER_WORDS.value))
    heads, data_dir = [], synthetic_data(words, confusables)
    for seed in [int(v) for v in _ENSEMBLE_SEEDS.value] or [cw._SEED.value]:
        flags.FLAGS.seed = seed
        out = head_dir()
        sh.check_recipe(os.path.join(out, "recipe.json"),
                        {n: flags.FLAGS[n].value for n in RECIPE_FLAGS})
        train_head(data_dir, tuple(words), confusables, out)
        heads.append(out)

    clips = cw.scored_clips(words)
    recording = ww._stream(clips, workdir)
    hours = recording.duration_s / 3600.0
    positives, skipped = ww._positives(clips, words)
    tag = ww._scan_name()
    results, own, every = {}, {}, []
    for out in heads:
        source = embedding_stream.EmbeddingSource(out)
        scans = ww.scan(source, recording.samples, positives, os.path.join(out, f"scan_{tag}.npz"))
        every.append(scans)
        name = f"speech embedding + stream head ({os.path.basename(out)})"
        results[name] = ww.evaluate(scans, source.labels, words, hours, budgets, windows)
        detector, _ = detect.load_detector_file(out)
        own[name] = calibrated_row(scans, source.labels, words, hours, detector)
    if len(heads) > 1:
        name, mean = f"mean posterior of the {len(heads)} heads", mean_scans(every)
        results[name] = ww.evaluate(mean, source.labels, words, hours, budgets, windows)
        detector = ensemble_detector(heads, validation_stream(
            data_dir, tuple(words), confusables, None, ENSEMBLE_VALIDATION_SEED),
            ensemble_dir(heads))
        own[name] = calibrated_row(mean, source.labels, words, hours, detector)
    peer_words = [w for w in words if w in ww.OWW_MODELS]
    if ww._PEER.value and peer_words:
        models = ww.install_peer(os.path.join(workdir, "oww"))
        for word in peer_words:
            peer = oww_peer.OwwSource(models, ww.OWW_MODELS[word], word)
            peer_scans = ww.scan(peer, recording.samples, {word: positives[word]},
                                 os.path.join(workdir, "oww_scans", f"{word}_{tag}.npz"))
            results[f"openWakeWord {ww.OWW_VERSION} {ww.OWW_MODELS[word]}"] = ww.evaluate(
                peer_scans, peer.labels, [word], hours, budgets, windows)
    summary = {"stream": {"minutes": recording.duration_s / 60, "seed": ww._STREAM_SEED.value,
                          "one_fa_per_hour": 1 / hours},
               "words": words, "skipped": skipped, "lead_ms": ww._LEAD_MS.value,
               "pad_ms": cw._PAD_MS.value, "results": results, "calibrated_detector": own}
    path = (os.path.join(heads[0], f"wake_results_{tag}.json") if len(heads) == 1 else
            os.path.join(ensemble_dir(heads), f"wake_results_{tag}.json"))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"{path}\nnegative stream {recording.duration_s / 60:.0f} min (one FA = {1 / hours:.2g} "
          f"FA/h); thresholds chosen on it\n" + ww.table(results, budgets))
    for name, rows in own.items():
        print(f"{name}: its own detector (window and thresholds chosen on validation audio):")
        for word, r in rows.items():
            print(f"  {word}: misses {100 * r['miss_rate']:.1f} %, {r['fa_per_hour']:.1f} FA/h "
                  f"(threshold {r['threshold']:g}, {r['average_window_ms']:g} ms)")
    return 0


if __name__ == "__main__":
    for _name, _value in _DEFAULTS.items():
        flags.FLAGS.set_default(_name, _value)
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
