r"""Your own words from synthetic speech alone, scored on real people: bed, cat, happy.

    nice -n 10 python benchmarks/custom_word.py --engines=default,kokoro --seed=0

Steps (each skipped when its output exists, so a killed run continues; all under --workdir):
1. `kws synth` makes one synthetic set per engine group (synth/<group>/): the installed default
   engines together ("default"), and each opt-in engine (kokoro, rhvoice, pico) alone. Words: the
   custom words, confusable words for each (CONFUSABLES: a fixed, documented list per word, since
   no dictionary or letter-to-sound rules are at hand to generate real neighbours; --confusables
   overrides it) and other words (--other_words). The ten Speech Commands keywords are left out
   of the negatives on purpose: their real clips are the scored negatives.
2. The sets are linked into one Speech Commands tree (data/<groups>/; each set's held-out voices
   stay held out) and `kws-train` trains DS-CNN-S (streamable, MFCC, as
   kws/pretrained/ds_cnn_s_real) on it; optionally with real negative speech (--negative_dirs).
3. `kws-export --checkpoint=last`; the int8 waveform model scans every scored clip, padded with
   --pad_ms of silence each side, every --hop_ms (kws.stream_eval.sources.DeviceSource, the
   device script's own window runner). A clip's score for a word = its highest posterior.
4. Positives: the real clips of --positives_dir/<word> (never trained on). Negatives: the real
   keyword clips of --keyword_negatives_dir, and the clips of the --arabic_dir speakers that the
   speaker rule puts in test (kws.data.speech_commands.split_of with the run's percentages: never
   in training, even with --negative_dirs). A positive is recalled when its own word's score
   exceeds the threshold; a negative is a false accept when any custom word's score does.
   Per word: recall of its clips, false accepts of its own score; pooled: all clips, any word.
   Thresholds: --thresholds and, per row, the lowest one whose false-accept rate is <= --max_fa.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json
import os
import subprocess
import sys

import numpy as np
from absl import app
from absl import flags

from kws import progress
from kws.data import decode
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.stream_eval import sources
from kws.synth import confusables
from kws.synth import dataset as synth
from kws.synth import engines as tts_engines

_SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
CONFUSABLES = {
    "bed": ("bad", "bet", "bud", "red", "head", "bread"),
    "cat": ("bat", "cap", "hat", "cut", "kit", "cab"),
    "happy": ("happen", "hap", "hippy", "puppy", "nappy", "hobby"),
}
"""Per custom word: words one sound away (vowel, first or last consonant) and its first syllable."""
OTHER_WORDS = ("bird", "dog", "house", "tree", "wow", "marvin", "sheila", "zero", "four", "seven",
               "follow", "learn")
"""Unrelated negatives: Speech Commands words that are neither scored positives nor negatives."""
DEFAULT_GROUP = "default"
_BIN = os.path.dirname(sys.executable)

_WORKDIR = flags.DEFINE_string("workdir", "runs/custom_word", "Where every step writes.")
_WORDS = flags.DEFINE_list("words", ["bed", "cat", "happy"], "The custom words.")
_CONFUSABLES = flags.DEFINE_list("confusables", None, "Confusable negatives; default: "
                                 "CONFUSABLES of the words.")
_CONFUSABLES_PER_WORD = flags.DEFINE_integer(
    "confusables_per_word", 0, "When > 0 (and no --confusables): this many confusables of each "
    "word found by kws.synth.confusables (as `kws synth --confusables_per_word`), instead of the "
    "fixed CONFUSABLES; never a Speech Commands keyword nor an --other_words one.", lower_bound=0)
_OTHER_WORDS = flags.DEFINE_list("other_words", list(OTHER_WORDS), "Other negative words.")
_ENGINES = flags.DEFINE_list("engines", [DEFAULT_GROUP], f"Engine groups: '{DEFAULT_GROUP}' (the "
                             "installed default engines, one set) and/or engine names.")
_NUM_SPEAKERS = flags.DEFINE_integer("num_speakers", 200, "Speakers of the default-engine set.")
_OPT_IN_SPEAKERS = flags.DEFINE_integer("opt_in_speakers", 80, "Speakers of each other set.")
_SYNTH_SEED = flags.DEFINE_integer("synth_seed", 0, "Seed of the synthetic sets.")
_SEED = flags.DEFINE_integer("seed", 0, "Training seed.")
_EPOCHS = flags.DEFINE_integer("epochs", 40, "Training epochs.")
_UNKNOWN_PERCENTAGE = flags.DEFINE_float("unknown_percentage", 300.0, "Synthetic negatives, % of "
                                         "keyword examples (redrawn each epoch).")
_NEGATIVE_DIRS = flags.DEFINE_list("negative_dirs", [], "Real negative speech for training (its "
                                   "test speakers are scored, never trained on).")
_NEGATIVE_PERCENTAGE = flags.DEFINE_float("negative_percentage", 100.0, "Their share, % of keywords.")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0, "Speaker split of "
                                            "--negative_dirs and --arabic_dir.")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 30.0, "Speaker split of "
                                         "--negative_dirs and --arabic_dir.")
_POSITIVES_DIR = flags.DEFINE_string("positives_dir", os.path.join(
    _SHARED_DATA, "speech_commands_v0.01_unknown_words"), "Real clips, a folder per custom word.")
_KEYWORD_NEGATIVES_DIR = flags.DEFINE_string("keyword_negatives_dir", os.path.join(
    _SHARED_DATA, "speech_commands_test_v0.02_dev"), "Real keyword clips (its 10 keyword folders).")
_ARABIC_DIR = flags.DEFINE_string("arabic_dir", os.path.join(
    _SHARED_DATA, "arabic_speech_commands_negatives"), "Real other speech; its test speakers.")
_HOP_MS = flags.DEFINE_float("hop_ms", 100.0, "Scan hop.")
_PAD_MS = flags.DEFINE_float("pad_ms", 500.0, "Silence added before and after each clip.")
_THRESHOLDS = flags.DEFINE_list("thresholds", ["0.5", "0.9"], "Fixed thresholds of the table.")
_MAX_FA = flags.DEFINE_float("max_fa", 0.02, "False-accept rate of the chosen threshold.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 2, "Synthesis threads.")


def _run(command: list[str], log_path: str) -> None:
    print("$", " ".join(command), f"> {log_path}", flush=True)
    with open(log_path, "a", encoding="utf-8") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise UserError(f"{command[0]} failed (exit {done.returncode}); see {log_path}")


def confusables_of(words: list[str], per_word: int = 0, others: tuple[str, ...] = OTHER_WORDS
                   ) -> list[str]:
    """The CONFUSABLES of ``words`` (``UserError`` for a word without a list), or with ``per_word``
    > 0 that many of each found in the pronouncing dictionary, leaving out the scored keywords,
    ``others`` and the words themselves."""
    if per_word:
        keep_out = list(words) + list(others) + list(sc.SPEECH_COMMANDS_KEYWORDS)
        return list(confusables.expand(words, per_word, exclude=keep_out)[len(words):])
    missing = [w for w in words if w not in CONFUSABLES]
    if missing:
        raise UserError(f"no built-in confusable list for {missing} (have: {', '.join(CONFUSABLES)})"
                        "; pass --confusables=...")
    return [c for w in words for c in CONFUSABLES[w]]


def synth_words(words, confusables, others) -> list[str]:
    """Every word a set says, in order, without repeats (a custom word is never a negative)."""
    return list(dict.fromkeys(list(words) + [w for w in list(confusables) + list(others)
                                             if w not in words]))


def synthesize(group: str, words: list[str], workdir: str) -> str:
    """The synthetic set of one engine group (made by `kws synth` unless its manifest exists)."""
    out = os.path.join(workdir, "synth", group)
    manifest = os.path.join(out, synth.MANIFEST_NAME)
    if not os.path.isfile(manifest):
        if os.path.isdir(out) and os.listdir(out):
            raise UserError(f"{out} holds an unfinished synthetic set (no manifest): remove it")
        engines = "" if group == DEFAULT_GROUP else group.replace("+", ",")
        speakers = _NUM_SPEAKERS.value if group == DEFAULT_GROUP else _OPT_IN_SPEAKERS.value
        os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
        _run([os.path.join(_BIN, "kws"), "synth", f"--output_dir={out}", f"--words={','.join(words)}",
              f"--num_speakers={speakers}", f"--seed={_SYNTH_SEED.value}",
              f"--num_workers={_NUM_WORKERS.value}"] + ([f"--engines={engines}"] if engines else []),
             os.path.join(workdir, "logs", f"synth_{group}.log"))
    with open(manifest, encoding="utf-8") as f:
        have = json.load(f)["config"]["words"]
    if list(have) != words:
        raise UserError(f"{out} says {have}, this run wants {words}: use another --workdir")
    return out


def engine_groups(names: list[str]) -> list[str]:
    """``default`` and opt-in engines each alone; named default engines together."""
    bad = [n for n in names if n != DEFAULT_GROUP and n not in tts_engines.ENGINE_NAMES]
    if bad:
        raise UserError(f"unknown engines {bad}; valid: {DEFAULT_GROUP}, "
                        f"{', '.join(tts_engines.ENGINE_NAMES)}")
    named_defaults = [n for n in names if n in tts_engines.DEFAULT_ENGINES]
    groups = [DEFAULT_GROUP] if DEFAULT_GROUP in names else []
    groups += ["+".join(named_defaults)] if named_defaults else []
    return groups + [n for n in names if n != DEFAULT_GROUP and n not in tts_engines.DEFAULT_ENGINES]


def merge_sets(set_dirs: list[str], out: str) -> str:
    """One tree of links to every set's clips, their list files joined, the first set's noise."""
    if os.path.isdir(out):
        return out
    tmp = out + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    lists = {name: [] for name in ("validation_list.txt", "testing_list.txt")}
    for i, set_dir in enumerate(set_dirs):
        for entry in sorted(os.listdir(set_dir)):
            source = os.path.abspath(os.path.join(set_dir, entry))
            if not os.path.isdir(source) or (entry == synth.BACKGROUND_NOISE_DIR and i > 0):
                continue
            os.makedirs(os.path.join(tmp, entry), exist_ok=True)
            for name in sorted(os.listdir(source)):
                target = os.path.join(tmp, entry, name)
                if os.path.lexists(target):
                    raise UserError(f"two sets hold {entry}/{name}")
                os.symlink(os.path.join(source, name), target)
        for name, lines in lists.items():
            with open(os.path.join(set_dir, name), encoding="utf-8") as f:
                lines += [line for line in f if line.strip()]
    for name, lines in lists.items():
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
            f.write("".join(lines))
    os.rename(tmp, out)
    return out


def train_and_export(data_dir: str, run_dir: str, words: list[str]) -> str:
    """kws-train (it continues an interrupted run) and kws-export of the last checkpoint."""
    export_dir = os.path.join(run_dir, "export")
    if os.path.isdir(export_dir):
        return export_dir
    os.makedirs(run_dir, exist_ok=True)
    command = [os.path.join(_BIN, "kws-train"), f"--data_dir={data_dir}", f"--workdir={run_dir}",
               f"--wanted_words={','.join(words)}", "--model=ds_cnn", "--model_size=s",
               "--streamable", "--feature_type=mfcc", f"--epochs={_EPOCHS.value}",
               "--batch_size=50", f"--seed={_SEED.value}",
               f"--unknown_percentage={_UNKNOWN_PERCENTAGE.value:g}", "--unknown_resample",
               f"--validation_percentage={_VALIDATION_PERCENTAGE.value:g}",
               f"--testing_percentage={_TESTING_PERCENTAGE.value:g}"]
    if _NEGATIVE_DIRS.value:
        command += [f"--negative_dirs={','.join(_NEGATIVE_DIRS.value)}",
                    f"--negative_percentage={_NEGATIVE_PERCENTAGE.value:g}"]
    _run(command, os.path.join(run_dir, "train.log"))
    _run([os.path.join(_BIN, "kws-export"), f"--workdir={run_dir}", "--checkpoint=last",
          f"--output_dir={export_dir}"], os.path.join(run_dir, "export.log"))
    return export_dir


def scored_clips(words: list[str]) -> dict[str, list[str]]:
    """source -> clip paths: 'positive:<word>', 'keywords', 'arabic_test' (module docstring)."""
    def clips(folder):
        return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                      if n.lower().endswith(sc.AUDIO_EXTENSIONS))
    out = {f"positive:{w}": clips(os.path.join(_POSITIVES_DIR.value, w)) for w in words}
    out["keywords"] = [p for k in sc.SPEECH_COMMANDS_KEYWORDS
                       for p in clips(os.path.join(_KEYWORD_NEGATIVES_DIR.value, k))]
    out["arabic_test"] = sorted(
        os.path.join(root, n) for root, _, names in os.walk(_ARABIC_DIR.value) for n in names
        if n.lower().endswith(sc.AUDIO_EXTENSIONS) and sc.split_of(
            n, _VALIDATION_PERCENTAGE.value, _TESTING_PERCENTAGE.value) == "test")
    for source, paths in out.items():
        if not paths:
            raise UserError(f"no clips for {source}")
    return out


def clip_scores(source: sources.DeviceSource, path: str, words: list[str], pad_ms: float
                ) -> np.ndarray:
    """float32 [len(words)]: each word's highest posterior over the padded clip's windows."""
    clip = decode.read_clip(path, source.sample_rate_hz)
    pad = np.zeros(int(round(source.sample_rate_hz * pad_ms / 1000)), np.float32)
    samples = np.concatenate([pad, clip, pad])
    if len(samples) < source.clip_samples:
        samples = np.concatenate([samples, np.zeros(source.clip_samples - len(samples), np.float32)])
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    _, posteriors = source.posteriors(pcm)
    columns = [source.labels.index(w) for w in words]
    return posteriors[:, columns].max(axis=0)


def fa_threshold(negative_scores: np.ndarray, max_fa: float) -> float:
    """The lowest threshold t with mean(negative_scores > t) <= max_fa (scores in [0, 1])."""
    scores = np.sort(np.asarray(negative_scores, np.float64))[::-1]
    allowed = int(np.floor(max_fa * len(scores) + 1e-9))
    return 0.0 if allowed >= len(scores) else float(scores[allowed])


def rates(positive_scores: np.ndarray, negative_scores: np.ndarray, threshold: float) -> dict:
    """Recall of positives [n] and false-accept rate of negatives [m] at ``threshold`` (score > t)."""
    return {"threshold": float(threshold),
            "recall": float(np.mean(positive_scores > threshold)),
            "false_accepts": float(np.mean(negative_scores > threshold))}


def score_rows(positives: dict[str, np.ndarray], negatives: np.ndarray, words: list[str],
               thresholds: list[float], max_fa: float) -> list[dict]:
    """Per word and pooled: rates at each fixed threshold and at the <= max_fa one.

    positives: word -> float [n_w, len(words)] scores of its clips; negatives: [m, len(words)].
    A word's row scores its own column; the pooled row every positive's own column and, for
    negatives, the highest column (a false accept of any word).
    """
    rows = []
    for i, word in enumerate(words):
        pos, neg = positives[word][:, i], negatives[:, i]
        rows.append(_row(word, pos, neg, thresholds, max_fa))
    pooled = np.concatenate([positives[w][:, i] for i, w in enumerate(words)])
    rows.append(_row("pooled", pooled, negatives.max(axis=1), thresholds, max_fa))
    return rows


def _row(name, pos, neg, thresholds, max_fa) -> dict:
    return {"word": name, "positives": int(len(pos)), "negatives": int(len(neg)),
            "fixed": [rates(pos, neg, t) for t in thresholds],
            "at_max_fa": rates(pos, neg, fa_threshold(neg, max_fa))}


def table(rows: list[dict], max_fa: float) -> str:
    """A Markdown table of score_rows."""
    fixed = [f"{r['threshold']:g}" for r in rows[0]["fixed"]]
    head = ("| word | clips | " + " | ".join(f"recall / FA at {t}" for t in fixed)
            + f" | threshold at FA <= {100 * max_fa:g} % | recall / FA there |")
    lines = [head, "|" + "---|" * (4 + len(fixed))]
    pct = lambda r: f"{100 * r['recall']:.1f} % / {100 * r['false_accepts']:.1f} %"  # noqa: E731
    for row in rows:
        lines.append(f"| {row['word']} | {row['positives']} | "
                     + " | ".join(pct(r) for r in row["fixed"])
                     + f" | {row['at_max_fa']['threshold']:.3f} | {pct(row['at_max_fa'])} |")
    return "\n".join(lines)


def score(export_dir: str, words: list[str], out_path: str) -> dict[str, np.ndarray]:
    """source -> [clips, len(words)] scores, cached in ``out_path`` (.npz)."""
    if os.path.isfile(out_path):
        with np.load(out_path) as cached:
            return {k: cached[k] for k in cached.files}
    source = sources.DeviceSource(export_dir, "int8", _HOP_MS.value)
    missing = [w for w in words if w not in source.labels]
    if missing:
        raise UserError(f"{export_dir} has no label {missing}")
    clips = scored_clips(words)
    bar = progress.Progress(sum(map(len, clips.values())), "score")
    scores = {}
    for name, paths in clips.items():
        rows = []
        for path in paths:
            rows.append(clip_scores(source, path, words, _PAD_MS.value))
            bar.update()
        scores[name] = np.stack(rows)
    bar.close()
    np.savez(out_path + ".tmp.npz", **scores)
    os.rename(out_path + ".tmp.npz", out_path)
    return scores


def main(argv: list[str]) -> int:
    del argv
    words = list(_WORDS.value)
    confusables = (list(_CONFUSABLES.value) if _CONFUSABLES.value is not None
                   else confusables_of(words, _CONFUSABLES_PER_WORD.value, tuple(_OTHER_WORDS.value)))
    if _CONFUSABLES_PER_WORD.value and _CONFUSABLES.value is None:
        print(f"confusable negatives: {', '.join(confusables)}", flush=True)
    all_words = synth_words(words, confusables, _OTHER_WORDS.value)
    groups = engine_groups(list(_ENGINES.value))
    workdir = _WORKDIR.value
    set_dirs = [synthesize(g, all_words, workdir) for g in groups]
    data_dir = merge_sets(set_dirs, os.path.join(workdir, "data", "+".join(groups)))
    name = "+".join(groups) + ("_neg" if _NEGATIVE_DIRS.value else "")
    if _UNKNOWN_PERCENTAGE.value != _UNKNOWN_PERCENTAGE.default:
        name += f"_u{_UNKNOWN_PERCENTAGE.value:g}"
    if _EPOCHS.value != _EPOCHS.default:
        name += f"_e{_EPOCHS.value}"
    name += f"_s{_SEED.value}"
    run_dir = os.path.join(workdir, "train", name)
    export_dir = train_and_export(data_dir, run_dir, words)
    scores = score(export_dir, words, os.path.join(run_dir, "scores.npz"))
    negatives = np.concatenate([scores["keywords"], scores["arabic_test"]])
    thresholds = [float(t) for t in _THRESHOLDS.value]
    rows = score_rows({w: scores[f"positive:{w}"] for w in words}, negatives, words, thresholds,
                      _MAX_FA.value)
    by_source = {s: {f"{t:g}": float(np.mean(scores[s].max(axis=1) > t)) for t in thresholds}
                 for s in ("keywords", "arabic_test")}
    result = {"name": name, "engines": groups, "seed": _SEED.value, "epochs": _EPOCHS.value,
              "words": words, "negative_words": all_words[len(words):],
              "negative_dirs": list(_NEGATIVE_DIRS.value), "hop_ms": _HOP_MS.value,
              "pad_ms": _PAD_MS.value, "rows": rows,
              "false_accepts_by_source": by_source,
              "negatives_per_source": {s: int(len(scores[s])) for s in ("keywords", "arabic_test")}}
    with open(os.path.join(run_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(f"{name}: {os.path.join(run_dir, 'results.json')}")
    print(table(rows, _MAX_FA.value))
    return 0


if __name__ == "__main__":
    app.run(main)
