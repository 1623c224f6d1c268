"""One model's figures in a benchmarks/stream_side_by_side.py results.json, as the shipped models'
scorecards keep them (benchmarks/embedding_pretrained_card.py, tools/ship_detector.py)."""

from __future__ import annotations

import json
import os

from kws.errors import UserError


def _misses(at_budget: dict) -> dict:
    return {b: (None if v is None else round(v["miss_rate"], 4)) for b, v in at_budget.items()}


def model_figures(path: str, name: str, relative_to: str) -> dict:
    """The recording (its negative_dirs relative to ``relative_to``), the DET misses per budget and
    the calibrated detector's misses and false accepts of model ``name`` (a model name of the
    results, or the same folder written another way), and the other models' misses of the same run.
    """
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    mine = [m for m in results["models"]
            if os.path.realpath(m["model"]) == os.path.realpath(name)]
    if len(mine) != 1:
        raise UserError(f"{path} has no model {name!r}; it has "
                        f"{', '.join(m['model'] for m in results['models'])}")
    own = mine[0]
    recording = dict(results["recording"])
    recording["negative_dirs"] = [os.path.relpath(d, relative_to)
                                  for d in recording.get("negative_dirs", ())]
    return {"recording": recording, "benchmark": "benchmarks/stream_side_by_side.py",
            "miss_rate_at_fa_per_hour": _misses(own["at_budget"]),
            "calibrated": ({k: own["calibrated"][k] for k in ("budget", "miss_rate", "fa_per_hour")}
                           if "calibrated" in own else None),
            "same_run_miss_rate_at_fa_per_hour": {m["model"]: _misses(m["at_budget"])
                                                  for m in results["models"] if m is not own}}
