"""`kws mine`: hard-negative mining, the windows of other speech on which a trained run fires.

    kws mine --workdir=runs/stream_v1 --output_dir=runs/stream_v1/mined --threshold=0.5
    kws-train --flagfile=... --negative_dirs=...,runs/stream_v1/mined --init_from=runs/stream_v1 \\
        --workdir=runs/stream_v1_r1 --epochs=10 --learning_rate=1e-3

Runs the run's checkpoint (--checkpoint, default last) every --hop_ms over each clip of other
speech in its training split (kws.training.mine), keeps the --max_windows windows that fired
highest as WAVs named after their speaker, and writes mined.csv beside them. Resumable: rerun the
same command after a kill.
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags

from kws.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A kws-train working directory.", required=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "last", "best, last, or a .keras file.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder of mined windows.", required=True)
_THRESHOLD = flags.DEFINE_float("threshold", 0.5, "A window fires at this keyword posterior.")
_MAX_WINDOWS = flags.DEFINE_integer("max_windows", 2000, "Keep at most this many windows.",
                                    lower_bound=1)
_HOP_MS = flags.DEFINE_integer("hop_ms", 40, "Score a window every hop_ms.", lower_bound=1)
_PAD_S = flags.DEFINE_float("pad_s", 0.5, "Silence around each clip.", lower_bound=0)


def main(argv: list[str]) -> None:
    del argv
    # pylint: disable=import-outside-toplevel
    from kws.data import speech_commands as sc
    from kws.progress import Progress
    from kws.stream_eval import sources
    from kws.training import checkpoint as ckpt
    from kws.training import config as tc
    from kws.training import mine

    path = os.path.join(_WORKDIR.value, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{_WORKDIR.value} is not a training working directory (no config.json)")
    with open(path, encoding="utf-8") as f:
        config = tc.TrainConfig.from_dict(json.load(f))
    if config.data.label_mode != "keywords":
        raise UserError("mining needs a keywords-mode run (its _unknown_ pool is what is mined)")
    try:
        settings = mine.MineConfig(threshold=_THRESHOLD.value, max_windows=_MAX_WINDOWS.value,
                                   pad_s=_PAD_S.value)
    except ValueError as e:
        raise UserError(f"bad mining flags: {e}") from e
    index = sc.index_dataset(config.data)
    clips, left_out = mine.training_negatives(index, config.data)
    if not clips:
        raise UserError(f"{_WORKDIR.value}: no clips of other speech in its training split")
    try:
        checkpoint = ckpt.resolve(_WORKDIR.value, _CHECKPOINT.value)
    except ckpt.CheckpointError as e:
        raise UserError(str(e)) from e
    source = sources.KerasSource(_WORKDIR.value, checkpoint, _HOP_MS.value)
    print(f"mining {len(clips)} clips of other speech ({left_out} of other speakers left out) "
          f"with {source.description}", flush=True)
    bar = Progress(len(clips), "mine", stream=sys.stderr)
    shown = [0]

    def advance(done: int, total: int) -> None:
        del total
        bar.update(done - shown[0])
        shown[0] = done

    written = mine.mine(clips, source, _OUTPUT_DIR.value, settings, progress=advance)
    bar.close()
    fired = {}
    for w in written:
        fired[w["label"]] = fired.get(w["label"], 0) + 1
    print(f"wrote {len(written)} windows to {_OUTPUT_DIR.value} (as "
          + ", ".join(f"{k} {v}" for k, v in sorted(fired.items(), key=lambda x: -x[1]))
          + f"); {mine.MANIFEST_FILE} lists them")
