r"""A real_voices.py tree whose repeated real training clips are speed-perturbed copies instead of
exact repeats (a lever for speaker variety, measured in benchmarks/README.md):

    python benchmarks/speed_perturbed_tree.py --data_dir=runs/rv_valu/merged_data \
        --output_dir=runs/rv_valu_sp/merged_data

real_voices.py --real_repeat=6 writes each real clip as real_<speaker>, real1_<speaker> ..
real5_<speaker>. Here the training split's keyword clips real1 .. real4 are resampled so they play
at --factors times the speed (pitch and tempo together, as Kaldi's speed perturbation); everything
else (real_ and real5_, synthetic voices, other words, validation and test clips, the lists) is a
symlink to the original. Files already written are kept.
"""

from __future__ import annotations

import os
import re

import numpy as np
import soundfile as sf
import soxr
from absl import app
from absl import flags

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
_DATA_DIR = flags.DEFINE_string("data_dir", "runs/rv_valu/merged_data", "The real_voices.py tree.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/rv_valu_sp/merged_data", "The new tree.")
_FACTORS = flags.DEFINE_list("factors", ["0.88", "0.94", "1.06", "1.12"],
                             "Speeds of the copies real1 .. realN.")


def held_out(data_dir: str) -> set[str]:
    names = set()
    for name in ("validation_list.txt", "testing_list.txt"):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            names.update(line.strip() for line in f if line.strip())
    return names


def perturbed(audio: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """``audio`` played ``factor`` times faster (len / factor samples)."""
    return np.clip(soxr.resample(audio, rate * factor, rate), -1.0, 1.0).astype(np.float32)


def build(src: str, dst: str, factors: list[float]) -> int:
    """Writes the tree (module docstring); returns how many clips were perturbed."""
    held = held_out(src)
    os.makedirs(dst, exist_ok=True)
    count = 0
    for entry in sorted(os.listdir(src)):
        source, target = os.path.join(src, entry), os.path.join(dst, entry)
        if not os.path.isdir(source):
            if not os.path.lexists(target):
                os.symlink(os.path.abspath(source), target)
            continue
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(source)):
            out = os.path.join(target, name)
            if os.path.lexists(out):
                continue
            copy = re.match(r"real(\d)_", name)
            k = int(copy.group(1)) if copy else 0
            if entry in KEYWORDS and 1 <= k <= len(factors) and f"{entry}/{name}" not in held:
                audio, rate = sf.read(os.path.join(source, name), dtype="float32")
                sf.write(out + ".partial.wav", perturbed(audio, rate, factors[k - 1]), rate,
                         subtype="PCM_16")
                os.replace(out + ".partial.wav", out)
                count += 1
            else:
                os.symlink(os.path.abspath(os.path.join(source, name)), out)
    return count


def main(argv):
    del argv
    count = build(_DATA_DIR.value, _OUTPUT_DIR.value, [float(f) for f in _FACTORS.value])
    print(f"perturbed {count} clips into {_OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
