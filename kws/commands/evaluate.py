"""`kws-eval` (also `kws eval`): score a trained checkpoint on any split or any folder tree.

    kws-eval --workdir=runs/default                         # best checkpoint, test split
    kws-eval --workdir=runs/default --data_dir=../shared/data/speech_commands_test_v0.02_dev --split=all

Prints accuracy, per-class precision/recall and the confusion matrix, and writes eval_<name>.json/.txt
(with the misclassified clips and their top-3 scores), confusion_<name>.png and the page of the run
(report.html; report_<name>.html for another name than test, see `kws report`) into the working
directory (or --output_dir).
"""

from __future__ import annotations

import dataclasses
import json
import os

from absl import flags

from kws.data import speech_commands as sc
from kws.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A training working directory.", required=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "best, last, or a path to a .keras file.")
_SPLIT = flags.DEFINE_enum("split", "test", list(sc.SPLITS) + ["all"], "Split to score; 'all' "
                           "scores every clip of --data_dir.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Another dataset tree with the same labels "
                                "(default: the training data).")
_BACKGROUND_NOISE_DIR = flags.DEFINE_string("background_noise_dir", "", "Noise folder for generated "
                                            "_silence_ examples of --data_dir.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "", "Where reports go (default: --workdir).")
_NAME = flags.DEFINE_string("name", "", "Report name (default: the split, or the folder's name).")


def main(argv: list[str]) -> None:
    del argv
    from kws.data import pipeline as pl  # pylint: disable=g-import-not-at-top
    from kws.report import page  # pylint: disable=g-import-not-at-top
    from kws.training import checkpoint as ckpt  # pylint: disable=g-import-not-at-top
    from kws.training import config as tc  # pylint: disable=g-import-not-at-top
    from kws.training import evaluate  # pylint: disable=g-import-not-at-top

    workdir = _WORKDIR.value
    config_path = os.path.join(workdir, "config.json")
    if not os.path.exists(config_path):
        raise UserError(f"{workdir} is not a training working directory (no config.json)")
    with open(config_path, encoding="utf-8") as f:
        config = tc.TrainConfig.from_dict(json.load(f))
    data = config.data
    if _DATA_DIR.value:
        data = dataclasses.replace(data, data_dir=_DATA_DIR.value,
                                   background_noise_dir=_BACKGROUND_NOISE_DIR.value)
    split = _SPLIT.value
    if split == "all":
        data = dataclasses.replace(data, validation_percentage=0, testing_percentage=0)
    index = sc.index_dataset(data)
    if split == "all":
        index = dataclasses.replace(index, splits={**index.splits, "test": tuple(
            e for s in sc.SPLITS for e in index.splits[s])})
        split = "test"
    with open(os.path.join(workdir, "labels.txt"), encoding="utf-8") as f:
        trained_labels = tuple(f.read().split())
    if trained_labels != index.labels:
        raise UserError(f"the model was trained on labels {list(trained_labels)} but the data gives "
                        f"{list(index.labels)}; evaluate on a tree with the same words")
    path = ckpt.resolve(workdir, _CHECKPOINT.value)
    model = ckpt.load_model(path, compile=False)
    noise = pl.load_noise(index, config.features.clip_samples, data.sample_rate_hz)
    ds = pl.make_dataset(index, split, config.features, config.pipeline, noise=noise)
    result = evaluate.evaluate_keras(model, ds, index.labels, [e.path for e in index.splits[split]])
    report = _NAME.value or (os.path.basename(os.path.normpath(_DATA_DIR.value))
                             if _DATA_DIR.value else _SPLIT.value)
    evaluate.write_report(result, _OUTPUT_DIR.value or workdir, report)
    print(evaluate.format_report(result))
    print(page.write_after_eval(workdir, _OUTPUT_DIR.value or workdir, report))
