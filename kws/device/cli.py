"""`kws-infer` (also `python export/infer.py`): keyword spotting with an exported model, no TF.

    kws-infer clip.wav                                       # the shipped pretrained model
    kws-infer --model_dir=export_out clip.wav other.wav      # top label, score, top-k per clip
    kws-infer --model_dir=export_out recording.wav           # longer than 1 s: `time label score`
    kws-infer --model_dir=export_out --csv=scores.csv folder/ # every WAV below the folder, as CSV
    kws-infer --model_dir=export_out --mic                   # live microphone, Ctrl-C to stop
    kws-infer --model_dir=export_out --variant=stream_int8 --mic   # stateful streaming model
    kws-infer --pretrained=speech_embedding_head --mic       # the larger shipped model

Needs numpy, absl-py and ai-edge-litert (sounddevice for --mic). Reads labels.txt and frontend.json
from --model_dir (default: kws/pretrained's model) and refuses a model that does not match them. A
file that cannot be used is reported on stderr (the others still run) and makes the exit status 1.
"""

from __future__ import annotations

import os
import sys

from absl import flags

from kws import cli
from kws import pretrained
from kws.device import detect
from kws.device import infer
from kws.device import stream
from kws.device import wav
from kws.device.model import VARIANTS
from kws.device.loader import load_model
from kws.errors import UserError

_MODEL_DIR = flags.DEFINE_string("model_dir", "", "Export folder written by kws-export. Empty: "
                                 f"the shipped pretrained model ({pretrained.DEFAULT}: the "
                                 "Speech Commands words yes/no/up/down/left/right/on/off/stop/go).")
_PRETRAINED = flags.DEFINE_string("pretrained", pretrained.DEFAULT, "Without --model_dir: which "
                                  "shipped model (kws/pretrained: ds_cnn_s_real, the <= 54 KB "
                                  "microcontroller model; speech_embedding_head, a 2.7 MB "
                                  "Pi-class model that misses fewer words on a stream).")
_VARIANT = flags.DEFINE_enum("variant", "int8", list(VARIANTS), "Which waveform-in model to run: "
                             "int8/float run every --hop_ms over the last window; stream_int8/"
                             "stream_float are stateful streaming models (streamable runs), one "
                             "hop of their own per call.")
_TOP_K = flags.DEFINE_integer("top_k", 3, "Labels listed per clip.", lower_bound=1)
_CSV = flags.DEFINE_string("csv", "", "Write folder results to this CSV file (default: stdout).")
_HOP_MS = flags.DEFINE_integer("hop_ms", 50, "Streaming: run a window model every hop_ms (stream_* "
                               "models have their own hop).",
                               lower_bound=stream.HOP_MS_RANGE[0],
                               upper_bound=stream.HOP_MS_RANGE[1])
_AVERAGE_WINDOW_MS = flags.DEFINE_float("average_window_ms", 500.0,
                                        "Streaming: average posteriors over this span.")
_THRESHOLD = flags.DEFINE_float("threshold", 0.6, "Streaming: detection threshold on the average. "
                                 "A model folder's calibrated detector.json (per-keyword "
                                 "thresholds and window) is used unless a detector flag is given.")
_SUPPRESSION_MS = flags.DEFINE_float("suppression_ms", 1000.0,
                                     "Streaming: no new detection for this long after one.")
_MINIMUM_COUNT = flags.DEFINE_integer("minimum_count", 3,
                                      "Streaming: fewest windows in the average.", lower_bound=1)
_STEREO = flags.DEFINE_enum("stereo", "mix", list(wav.STEREO_MODES),
                            "Multi-channel files: average the channels, or refuse them.")
_RESAMPLE = flags.DEFINE_bool("resample", True, "Resample files of another rate (else refuse).")
_MIC = flags.DEFINE_bool("mic", False, "Listen to the microphone (needs sounddevice).")
_MIC_DEVICE = flags.DEFINE_string("mic_device", "", "sounddevice input device (name or number).")
_MIC_SECONDS = flags.DEFINE_float("mic_seconds", 0.0, "Stop listening after this long (0: Ctrl-C).")
_NUM_THREADS = flags.DEFINE_integer("num_threads", 1, "LiteRT threads.", lower_bound=1)


def _detector(folder: str) -> detect.DetectorConfig:
    """The model folder's calibrated detector unless a detector flag is given (choose_detector)."""
    from_flags = detect.DetectorConfig(average_window_ms=_AVERAGE_WINDOW_MS.value,
                                       threshold=_THRESHOLD.value,
                                       suppression_ms=_SUPPRESSION_MS.value,
                                       minimum_count=_MINIMUM_COUNT.value)
    given = any(flags.FLAGS[name].present for name in detect.DETECTOR_FLAGS)
    return detect.choose_detector(folder, from_flags, given)[0]


def _options(folder: str) -> infer.InferOptions:
    return infer.InferOptions(
        top_k=_TOP_K.value, hop_ms=_HOP_MS.value, stereo=_STEREO.value, resample=_RESAMPLE.value,
        detector=_detector(folder))


def _report(error: UserError) -> None:
    print(f"kws-infer: error: {error}", file=sys.stderr)


def _run_paths(model, paths: list[str], options: infer.InferOptions) -> int:
    """Runs files and folders; returns how many files failed."""
    failed = 0
    for path in paths:
        if os.path.isdir(path):
            failed += _run_folder(model, path, options)
            continue
        try:
            print(infer.format_result(infer.run_file(model, path, options)), flush=True)
        except UserError as e:
            _report(e)
            failed += 1
    return failed


def _run_folder(model, folder: str, options: infer.InferOptions) -> int:
    files = infer.wav_files(folder)
    if not files:
        raise UserError(f"{folder}: no .wav files in this folder or below it")
    out = open(_CSV.value, "w", encoding="utf-8", newline="") if _CSV.value else sys.stdout
    failed = 0
    try:
        writer = infer.csv_writer(out)
        for path in files:
            try:
                writer.writerows(infer.csv_rows(infer.run_file(model, path, options)))
            except UserError as e:
                _report(e)
                writer.writerow(infer.error_row(path, str(e)))
                failed += 1
    finally:
        if out is not sys.stdout:
            out.close()
    if _CSV.value:
        print(f"{folder}: {len(files)} file(s) scored into {_CSV.value}"
              + (f", {failed} unusable" if failed else ""), file=sys.stderr)
    return failed


def _listen(model, options: infer.InferOptions) -> None:
    from kws.device import mic  # pylint: disable=import-outside-toplevel

    recognizer = stream.StreamingRecognizer.for_model(
        model, options.hop_ms, detect.Detector(model.labels, options.detector))
    every = 1000.0 * recognizer.hop_samples / model.sample_rate_hz
    kind = "stateful streaming model" if model.stateful else "model"
    print(f"listening at {model.sample_rate_hz} Hz, {kind} every {every:g} ms; Ctrl-C to "
          f"stop\n{'time_s':>8}  label  score", flush=True)
    device = _MIC_DEVICE.value

    def show(d):
        print(f"{d.time_ms / 1000:8.3f}  {d.label}  {d.score:.3f}", flush=True)

    count = mic.listen(
        recognizer, show, device=int(device) if device.isdigit() else (device or None),
        seconds=_MIC_SECONDS.value,
        on_status=lambda s: print(f"kws-infer: audio input: {s}", file=sys.stderr))
    print(f"stopped after {recognizer.samples_seen / model.sample_rate_hz:.1f} s, "
          f"{count} detection(s)")


def main(argv: list[str]) -> int:
    paths = argv[1:]
    if _MIC.value == bool(paths):
        raise UserError("give WAV files or folders to score, or --mic to listen (not both)")
    if _MODEL_DIR.value and flags.FLAGS["pretrained"].present:
        raise UserError("give --model_dir (an export folder) or --pretrained (a shipped model), "
                        "not both")
    folder = _MODEL_DIR.value or pretrained.model_dir(_PRETRAINED.value)
    options = _options(folder)
    model = load_model(folder, _VARIANT.value, _NUM_THREADS.value)
    if _MIC.value:
        _listen(model, options)
        return 0
    return 1 if _run_paths(model, paths, options) else 0


def run() -> None:
    """Console script `kws-infer`."""
    cli.run_command(sys.modules[__name__], "kws-infer", sys.argv[1:])


if __name__ == "__main__":
    run()
