"""`kws-stream-eval`: how well a model detects keywords on a long recording, hop by hop.

    kws-stream-eval --model_dir=runs/x/export --output_dir=runs/x/stream   # synthetic test voices
    kws-stream-eval --model_dir=E --variant=float --data_dir=D --split=all --duration_minutes=30
    kws-stream-eval --workdir=runs/x --output_dir=O                         # a Keras checkpoint
    kws-stream-eval --model_dir=E --recording=long.wav --labels_csv=long.csv --output_dir=O

Without --recording, makes a recording of --duration_minutes from the clips of --split of
--data_dir (default: the synthetic default dataset's held-out test voices): the model's keywords
and other words at random times over background noise at --snr_db (recording.wav +
ground_truth.csv). Runs the model over it every --hop_ms (stateful streaming variants at their
own hop), detects with the device script's Detector (the same smoothing, threshold and
suppression flags as kws-infer) and writes into --output_dir: detections.csv, det.csv and det.png
(a threshold sweep), scores.png (scores over time with the ground truth), report.json and the
page of the run (report.html, see `kws report`; when the run is known: --workdir, or the one
--model_dir was exported from). Prints miss rate, false accepts per hour, wrong-label detections,
latency and the miss rate at <= --max_fa_per_hour. The matching rules are in
kws.stream_eval.metrics.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import flags

from kws import cli
from kws.data import speech_commands as sc
from kws.synth import dataset as synth
from kws.device import detect
from kws.device import stream
from kws.errors import UserError
from kws.report import page as run_page
from kws.stream_eval import calibrate
from kws.stream_eval import evaluate
from kws.stream_eval import metrics as sm
from kws.stream_eval import recording as rec
from kws.stream_eval import sources


class _FloatListParser(flags.ListParser):
    """A comma-separated list of numbers, parsed into floats."""

    def parse(self, argument):
        items = super().parse(argument)
        try:
            return [float(x) for x in items]
        except (TypeError, ValueError):
            raise ValueError(f"not a comma-separated list of numbers: {argument!r}") from None

    def flag_type(self) -> str:
        return "comma separated list of numbers"


def _define_floats(name: str, default, help_text: str):
    return flags.DEFINE(_FloatListParser(), name, list(default), help_text,
                        serializer=flags.CsvListSerializer(","))


# The model.
_MODEL_DIR = flags.DEFINE_string("model_dir", "", "Export folder written by kws-export.")
_VARIANT = flags.DEFINE_string("variant", "int8", "Model of --model_dir: a variant of "
                               "kws.device.model.VARIANTS (int8, float; stream_int8, stream_float "
                               "where exported).")
_NUM_THREADS = flags.DEFINE_integer("num_threads", 1, "LiteRT threads.", lower_bound=1)
_WORKDIR = flags.DEFINE_string("workdir", "", "A kws-train working directory (instead of "
                               "--model_dir): runs its Keras checkpoint.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "With --workdir: best, or a .keras file.")
# The recording.
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Dataset to make the recording from (default: the "
                                "synthetic default dataset in --synth_dir).")
_SYNTH_DIR = flags.DEFINE_string("synth_dir", synth.DEFAULT_SYNTH_DIR,
                                 "Where the synthetic default dataset is (generated there once "
                                 "when missing).")
_SPLIT = flags.DEFINE_enum("split", "test", list(sc.SPLITS) + ["all"], "Split of --data_dir whose "
                           "clips are used; 'all': every clip.")
_NOISE_DIR = flags.DEFINE_string("noise_dir", "", "Folder of background-noise WAVs (default: "
                                 "<data_dir>/_background_noise_).")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0, "Share of speakers in "
                                            "validation when --data_dir has no lists.")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 10.0, "Share of speakers in test "
                                         "when --data_dir has no lists.")
_DURATION_MINUTES = flags.DEFINE_float("duration_minutes", 10.0, "Length of the recording.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the recording (same seed, same recording).")
_SNR_DB = _define_floats("snr_db", rec.RecordingConfig.snr_db, "SNRs (dB) drawn per event: the "
                         "noise is scaled to each word (kws.stream_eval.recording).")
_MEAN_GAP_S = flags.DEFINE_float("mean_gap_s", rec.RecordingConfig.mean_gap_s,
                                 "Mean time between the end of a clip and the start of the next.")
_UNKNOWN_SHARE = flags.DEFINE_float("unknown_share", rec.RecordingConfig.unknown_share,
                                    "Share of events that are other words.")
_NEGATIVE_DIRS = flags.DEFINE_list("negative_dirs", [], "Folders of other speech (any depth, WAV/"
                                   "FLAC/OGG) whose --split speakers join the other words.")
_CALIBRATE_FA_PER_HOUR = flags.DEFINE_float(
    "calibrate_fa_per_hour", 0.0, "If > 0 (with --model_dir): choose the averaging window and "
    "per-keyword thresholds for this false-accept budget on this recording (use a validation "
    "split) and write them to <model_dir>/detector.json, which kws-infer and kws-stream-eval then "
    "use by default.", lower_bound=0)
_CALIBRATE_THRESHOLDS = flags.DEFINE_enum(
    "calibrate_thresholds", "per_keyword", ["per_keyword", "shared"], "With "
    "--calibrate_fa_per_hour: one threshold per keyword, or one shared by all (fewer choices to fit "
    "to a short calibration recording; kws.stream_eval.calibrate).")
_RECORDING = flags.DEFINE_string("recording", "", "Your own 16-bit mono WAV (with --labels_csv) "
                                 "instead of a generated recording.")
_LABELS_CSV = flags.DEFINE_string("labels_csv", "", "Ground truth of --recording: a CSV with "
                                  "start_s,end_s,label (kws.stream_eval.truth).")
# Detection, as kws-infer.
_HOP_MS = flags.DEFINE_integer("hop_ms", 50, "Run a window model every hop_ms.",
                               lower_bound=stream.HOP_MS_RANGE[0],
                               upper_bound=stream.HOP_MS_RANGE[1])
_AVERAGE_WINDOW_MS = flags.DEFINE_float("average_window_ms", 500.0,
                                        "Average posteriors over this span.")
_THRESHOLD = flags.DEFINE_float("threshold", 0.6, "Detection threshold on the average.")
_SUPPRESSION_MS = flags.DEFINE_float("suppression_ms", 1000.0,
                                     "No new detection for this long after one.")
_MINIMUM_COUNT = flags.DEFINE_integer("minimum_count", 3, "Fewest windows in the average.",
                                      lower_bound=1)
# Scoring and pictures.
_TOLERANCE_MS = flags.DEFINE_float("tolerance_ms", 1000.0, "A detection up to this long after a "
                                   "word's end still counts for it.", lower_bound=0)
_THRESHOLDS = _define_floats("thresholds", sm.DEFAULT_THRESHOLDS, "Thresholds of the sweep (the "
                             "DET curve); --threshold is added.")
_MAX_FA_PER_HOUR = flags.DEFINE_float("max_fa_per_hour", 1.0, "Report the best miss rate with at "
                                      "most this many false accepts per hour.", lower_bound=0)
_PLOT_START_S = flags.DEFINE_float("plot_start_s", 0.0, "scores.png starts here.", lower_bound=0)
_PLOT_SECONDS = flags.DEFINE_float("plot_seconds", 60.0, "scores.png shows this long.",
                                   lower_bound=1)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where everything is written.",
                                  required=True)


def _source() -> sources.PosteriorSource:
    if bool(_MODEL_DIR.value) == bool(_WORKDIR.value):
        raise UserError("give one model: --model_dir=<kws-export folder> or --workdir=<kws-train "
                        "run>")
    if _MODEL_DIR.value:
        return sources.DeviceSource(_MODEL_DIR.value, _VARIANT.value, _HOP_MS.value,
                                    _NUM_THREADS.value)
    return sources.KerasSource(_WORKDIR.value, _CHECKPOINT.value, _HOP_MS.value)


def _recording(source, keywords, output_dir: str) -> tuple[rec.Recording, dict]:
    """The user's recording, or a generated one (written to output_dir); and its description."""
    if _RECORDING.value or _LABELS_CSV.value:
        if not (_RECORDING.value and _LABELS_CSV.value):
            raise UserError("--recording and --labels_csv go together (a WAV and its ground truth)")
        recording = rec.read_recording(_RECORDING.value, _LABELS_CSV.value, source.labels,
                                       source.sample_rate_hz, min_samples=source.clip_samples)
        return recording, {"wav": _RECORDING.value, "labels_csv": _LABELS_CSV.value}
    try:
        config = rec.RecordingConfig(
            duration_s=60.0 * _DURATION_MINUTES.value, seed=_SEED.value,
            snr_db=tuple(_SNR_DB.value),
            mean_gap_s=_MEAN_GAP_S.value, unknown_share=_UNKNOWN_SHARE.value)
    except ValueError as e:
        raise UserError(f"bad recording flags: {e}") from e
    data_dir = _DATA_DIR.value
    if not data_dir:
        data_dir = synth.ensure_default_dataset(_SYNTH_DIR.value)
    try:
        data = sc.DataConfig(data_dir=data_dir, label_mode="all_words",
                             background_noise_dir=_NOISE_DIR.value,
                             sample_rate_hz=source.sample_rate_hz,
                             validation_percentage=_VALIDATION_PERCENTAGE.value,
                             testing_percentage=_TESTING_PERCENTAGE.value)
    except ValueError as e:
        raise UserError(f"bad data flags: {e}") from e
    pools = rec.with_negatives(rec.clip_pools(data, _SPLIT.value, keywords), data, _SPLIT.value,
                               _NEGATIVE_DIRS.value)
    recording = rec.make_recording(pools, pools.noise, source.sample_rate_hz, config)
    wav, labels = os.path.join(output_dir, "recording.wav"), os.path.join(output_dir,
                                                                          "ground_truth.csv")
    rec.write_recording(recording, wav, labels)
    return recording, {"wav": wav, "labels_csv": labels, "data_dir": data_dir,
                       "split": _SPLIT.value, "config": dataclasses.asdict(config),
                       "clipped_samples": recording.clipped_samples}


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {argv[1:]}; everything is given by flags")
    output_dir = _OUTPUT_DIR.value
    try:
        config = evaluate.EvalConfig(
            detector=detect.DetectorConfig(average_window_ms=_AVERAGE_WINDOW_MS.value,
                                           threshold=_THRESHOLD.value,
                                           suppression_ms=_SUPPRESSION_MS.value,
                                           minimum_count=_MINIMUM_COUNT.value),
            tolerance_ms=_TOLERANCE_MS.value, thresholds=tuple(_THRESHOLDS.value),
            max_fa_per_hour=_MAX_FA_PER_HOUR.value, plot_start_s=_PLOT_START_S.value,
            plot_seconds=_PLOT_SECONDS.value)
    except ValueError as e:
        raise UserError(f"bad detection or scoring flags: {e}") from e
    source = _source()
    recording, described = _recording(source, sm.keywords_of(source.labels, config.detector),
                                      output_dir)
    if _CALIBRATE_FA_PER_HOUR.value > 0:
        if not _MODEL_DIR.value:
            raise UserError("--calibrate_fa_per_hour writes detector.json into an export folder: "
                            "give --model_dir")
        source = sources.Precomputed(source, recording.samples)
        try:
            chosen = calibrate.calibrate(source.labels, source.times_ms, source.values,
                                         recording.events, recording.duration_s,
                                         _CALIBRATE_FA_PER_HOUR.value, config.detector,
                                         tolerance_ms=config.tolerance_ms,
                                         shared_threshold=_CALIBRATE_THRESHOLDS.value == "shared")
        except ValueError as e:
            raise UserError(f"calibration failed: {e}") from e
        path = detect.save_detector_file(_MODEL_DIR.value, chosen.detector, {
            **chosen.summary(), "variant": _VARIANT.value, "recording": described})
        print(f"calibrated for <= {_CALIBRATE_FA_PER_HOUR.value:g} FA/h: average "
              f"{chosen.detector.average_window_ms:g} ms, thresholds "
              + ", ".join(f"{k} {v:g}" for k, v in chosen.detector.label_thresholds)
              + f"; on this recording {evaluate.percent(chosen.metrics.miss_rate)} missed at "
              f"{chosen.metrics.fa_per_hour:.2f} FA/h; wrote {path}")
        config = dataclasses.replace(config, detector=chosen.detector)
    elif _MODEL_DIR.value:
        given = any(flags.FLAGS[name].present for name in detect.DETECTOR_FLAGS)
        detector, from_file = detect.choose_detector(_MODEL_DIR.value, config.detector, given)
        if from_file:
            print(f"using the calibrated detector of {_MODEL_DIR.value}/{detect.DETECTOR_FILE} "
                  "(give --threshold or --average_window_ms to override)")
            config = dataclasses.replace(config, detector=detector)
    result = evaluate.evaluate(source, recording, config, output_dir, described)
    print(evaluate.format_summary(result))
    written = evaluate.OUTPUT_FILES + (("recording.wav", "ground_truth.csv")
                                       if "config" in described else ())
    print(f"wrote {output_dir}: {', '.join(written)}")
    print(run_page.write_after_stream_eval(output_dir, _WORKDIR.value, _MODEL_DIR.value))
    return 0


def run() -> None:
    """Console script `kws-stream-eval`."""
    cli.run_command(sys.modules[__name__], "kws-stream-eval", sys.argv[1:])


if __name__ == "__main__":
    run()
