r"""The scorecard of a speech-embedding model folder (kws/pretrained/speech_embedding_head):

    python benchmarks/embedding_pretrained_card.py \
        --stream_results=runs/stream_bench_emb_device/results.json \
        --stream_model=runs/emb_stream_head/export

Clip figures: the device model (kws.device.embedding, as kws-infer runs it) on the real clips of
the speakers benchmarks/real_voices.py holds out (hash percentage in [50, 100): the 67 speakers
the ds_cnn_s_real scorecard is measured on): accuracy on their keyword clips, and `_unknown_`
recall on their other-word clips. Stream figures: copied from a stream_side_by_side.py results.json
in which --stream_model ran (the same head exported the same way) beside the other models.
Writes scorecard.json into --model_dir.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
from absl import app
from absl import flags

from kws import pretrained
from kws.device import infer
from kws.device import loader
from kws.stream_eval import results

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED_DATA = os.environ.get("KWS_SHARED_DATA",
                              os.path.join(os.path.dirname(_REPO), "shared", "data"))
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
HELD_OUT = (50.0, 100.0)
REPRODUCE = [
    "python benchmarks/real_voices.py --real_dir=../shared/data/speech_commands_test_v0.02_dev "
    "--noise_dir=../shared/data/_background_noise_ --workdir=runs/rv_valu --real_repeat=6 "
    "--real_validation_percentage=15 --prepare_only "
    "--extra_real_dirs=../shared/data/speech_commands_v0.01_unknown_words --extra_real_repeat=2",
    "python benchmarks/embedding_stream_head.py --data_dir=runs/rv_valu/merged_data "
    "--output_dir=runs/emb_stream_head",
    "kws-export --embedding_head_dir=runs/emb_stream_head --output_dir=runs/emb_stream_head/export",
    "kws-export --embedding_head_dir=runs/emb_stream_head "
    "--output_dir=kws/pretrained/speech_embedding_head --nocopy_frontend",
    "python benchmarks/stream_side_by_side.py --data_dir=runs/rv_valu/merged_data "
    "--export_dirs=runs/emb_stream_head/export --embedding_heads=runs/emb_stream_head "
    "--budgets=0.5,1,2,5,10,20 --output_dir=runs/stream_bench_emb_device",
    "python benchmarks/stream_side_by_side.py --data_dir=runs/rv_valu/merged_data "
    "--export_dirs=runs/emb_stream_head/export --budgets=0.5,1,2,5,10,20 --seed=1 "
    "--output_dir=runs/stream_bench_emb_device_s1 (and --seed=2 ... _s2)",
    "python benchmarks/embedding_pretrained_card.py "
    "--stream_results=runs/stream_bench_emb_device/results.json "
    "--more_stream_results=runs/stream_bench_emb_device_s1/results.json,"
    "runs/stream_bench_emb_device_s2/results.json --stream_model=runs/emb_stream_head/export",
]

_MODEL_DIR = flags.DEFINE_string("model_dir", pretrained.model_dir("speech_embedding_head"),
                                 "The speech-embedding model folder.")
_STREAM_RESULTS = flags.DEFINE_string("stream_results", "", "stream_side_by_side.py results.json.")
_STREAM_MODEL = flags.DEFINE_string("stream_model", "", "Its model entry to copy.")
_MORE_STREAM_RESULTS = flags.DEFINE_list(
    "more_stream_results", [], "results.json of the same benchmark on recordings of other seeds "
    "(--seed=1, 2: other clips of the same held-out speakers, other noise), copied the same way.")
_TRAINED_ON = flags.DEFINE_string(
    "trained_on", "Speech Commands keywords of 39 real speakers (hash percentage [0, 35)) x6 and "
    "the synthetic default dataset's voices, laid in 12 x 20 min recordings with real other words, "
    "Arabic Speech Commands of its training speakers and the Picovoice wake words as negatives, over "
    "real noise at 0-30 dB SNR; epoch and detector chosen on a 60 min validation stream of 18 more "
    "real speakers ([35, 50)); see recipe.json", "One line: what the head was trained on.")


def held_out(speaker: str) -> bool:
    digest = hashlib.sha1(f"kws-real-voices:{speaker}".encode()).hexdigest()
    return HELD_OUT[0] <= int(digest, 16) % 10000 / 100.0 < HELD_OUT[1]


def clips(folder: str) -> list[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".wav"))


def clip_figures(model) -> dict:
    real = os.path.join(_SHARED_DATA, "speech_commands_test_v0.02_dev")
    keyword = [(p, w) for w in KEYWORDS for p in clips(os.path.join(real, w))
               if held_out(os.path.basename(p).split("_nohash_")[0])]
    unknown = [p for p in clips(os.path.join(real, "_unknown_"))
               if held_out(os.path.basename(p).split("_", 1)[1].split("_nohash_")[0])]
    top = lambda p: infer.run_file(model, p, infer.InferOptions()).top[0][0]  # noqa: E731
    speakers = {os.path.basename(p).split("_nohash_")[0] for p, _ in keyword}
    return {"held_out_hash_percent": list(HELD_OUT), "speakers": len(speakers),
            "keyword_clips": len(keyword),
            "keyword_clip_accuracy": float(np.mean([top(p) == w for p, w in keyword])),
            "unknown_clips": len(unknown),
            "unknown_recall": float(np.mean([top(p) == "_unknown_" for p in unknown]))}


def stream_figures(path: str, name: str) -> dict:
    return results.model_figures(path, name, _REPO)


def main(argv):
    del argv
    folder = _MODEL_DIR.value
    model = loader.load_model(folder, "int8")
    with open(os.path.join(folder, "export_report.json"), encoding="utf-8") as f:
        report = json.load(f)
    card = {"model": "speech_embedding (frozen, pyopen-wakeword 1.1.0) + stream-trained head",
            "trained_on": _TRAINED_ON.value, "reproduce": REPRODUCE,
            "bytes": {"head": os.path.getsize(os.path.join(folder, "head.tflite")),
                      "frontend": sum(report["frontend_bytes"].values())},
            "head_parameters": report["head_parameters"],
            "held_out_real_speakers": clip_figures(model)}
    if _STREAM_RESULTS.value:
        card["stream"] = stream_figures(_STREAM_RESULTS.value, _STREAM_MODEL.value)
        card["stream_other_recordings"] = [stream_figures(p, _STREAM_MODEL.value)
                                           for p in _MORE_STREAM_RESULTS.value]
    with open(os.path.join(folder, "scorecard.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    app.run(main)
