"""`kws-train` (also `kws train`, `python -m kws.train`): train a keyword model, resumably.

    kws-train --workdir=runs/ds_cnn                      # synthetic default dataset, generated once
    kws-train --data_dir=speech_commands_v0.02 --model=bc_resnet --feature_type=log_mel --width=2

Rerun the same command after a crash to continue. `--flagfile=FILE` reads flags from a file.
"""

from __future__ import annotations

import json
import os

from absl import flags

from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import placement
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.synth import dataset as synth
from kws.models import FAMILIES
from kws.models.config import DS_CNN_SIZES, STREAMABLE_FAMILIES, ModelConfig
from kws.training import config as tc


# Data
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Dataset root (folder per word). Empty: the synthetic "
                                "default dataset in --synth_dir, generated on first use.")
_DATA_URL = flags.DEFINE_string("data_url", "", "Download and extract this .tar.gz/.zip into "
                                "--data_dir first (e.g. the Speech Commands archive).")
_DATA_SHA256 = flags.DEFINE_string("data_sha256", "", "Expected SHA-256 of --data_url's archive.")
_SYNTH_DIR = flags.DEFINE_string("synth_dir", synth.DEFAULT_SYNTH_DIR,
                                 "Where the default synthetic dataset lives.")
_LABEL_MODE = flags.DEFINE_enum("label_mode", "keywords", list(sc.LABEL_MODES),
                                "keywords: wanted words + _silence_ + _unknown_; all_words: every "
                                "folder is a label.")
_WANTED_WORDS = flags.DEFINE_list("wanted_words", list(sc.SPEECH_COMMANDS_KEYWORDS), "Keywords.")
_SILENCE_PERCENTAGE = flags.DEFINE_float("silence_percentage", 10.0, "_silence_ share (% of keywords).")
_UNKNOWN_PERCENTAGE = flags.DEFINE_float("unknown_percentage", 10.0, "_unknown_ share (% of keywords).")
_UNKNOWN_RESAMPLE = flags.DEFINE_bool(
    "unknown_resample", False, "Draw the training _unknown_ examples afresh each epoch from every "
    "other-word clip (same count), instead of one fixed sample for the whole run.")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0,
                                            "Validation share of speakers (without list files).")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 10.0,
                                         "Test share of speakers (without list files).")
_BACKGROUND_NOISE_DIR = flags.DEFINE_string("background_noise_dir", "", "Noise folder; default "
                                            "<data_dir>/_background_noise_.")
_SKIP_BAD_FILES = flags.DEFINE_bool("skip_bad_files", False, "Count and skip unusable clips.")
_NEGATIVE_DIRS = flags.DEFINE_list(
    "negative_dirs", [], "Folders of other speech (any depth; WAV/FLAC/OGG of any length) whose "
    "clips are _unknown_ examples, split by speaker: in one pool with the data folder's other "
    "words, or with their own share (--negative_percentage).")
_NEGATIVE_PERCENTAGE = flags.DEFINE_float(
    "negative_percentage", None, "_unknown_ examples drawn from --negative_dirs alone (% of "
    "keywords), on top of --unknown_percentage from the data folder's other words. Unset: the "
    "negatives join that pool.")
_RESAMPLE_ON_LOAD = flags.DEFINE_bool("resample_on_load", False, "Accept clips of any rate and "
                                      "channel count (mixed to mono, resampled on load).")
_END_ALIGNED = flags.DEFINE_bool("end_aligned", False, "Stream placement: keywords end "
                                 "--end_min_ms..--end_max_ms before the window end, negatives "
                                 "anywhere (kws.data.placement).")
_END_MIN_MS = flags.DEFINE_float("end_min_ms", 20.0, "Shortest keyword-end-to-window-end time.")
_END_MAX_MS = flags.DEFINE_float("end_max_ms", 250.0, "Longest keyword-end-to-window-end time.")
_PARTIAL_PROBABILITY = flags.DEFINE_float("partial_probability", 0.0, "With --end_aligned: share "
                                          "of keyword examples cut inside the word, as _unknown_.")
_REVERSED_PROBABILITY = flags.DEFINE_float(
    "reversed_probability", 0.0, "Share of keyword examples played backwards as _unknown_ "
    "examples (the keywords' own voices and rooms, not a keyword).")
# Augmentation
_TIME_SHIFT_MS = flags.DEFINE_float("time_shift_ms", 100.0, "Random time shift range (+-).")
_BACKGROUND_FREQUENCY = flags.DEFINE_float("background_frequency", 0.8, "Share of clips with noise.")
_BACKGROUND_VOLUME = flags.DEFINE_float("background_volume", 0.1, "Largest noise scale.")
_GAIN_DB = flags.DEFINE_float("gain_db", 6.0, "Random gain range (+- dB).")
_TIME_MASKS = flags.DEFINE_integer("time_masks", 2, "SpecAugment time masks.")
_TIME_MASK_MAX_FRAMES = flags.DEFINE_integer("time_mask_max_frames", 5, "Longest time mask.")
_FREQ_MASKS = flags.DEFINE_integer("freq_masks", 2, "SpecAugment frequency masks.")
_FREQ_MASK_MAX_BINS = flags.DEFINE_integer("freq_mask_max_bins", 2, "Widest frequency mask.")
_FEATURE_NOISE = flags.DEFINE_float("feature_noise", 0.0, "Uniform noise of this width added to "
                                    "the features (the int8 input step: ~0.6 for MFCC).")
_VTLP_PROBABILITY = flags.DEFINE_float(
    "vtlp_probability", 0.0,
    "Share of clips whose spectrum is stretched along frequency (vocal-tract-length perturbation).")
_VTLP_MIN = flags.DEFINE_float("vtlp_min", 0.9, "Smallest warp factor.")
_VTLP_MAX = flags.DEFINE_float("vtlp_max", 1.1, "Largest warp factor.")
# Augmentation imitating a real recording (kws.data.recording); all off by default
_BACKGROUND_LEVEL = flags.DEFINE_enum(
    "background_level", "volume", list(augment.BACKGROUND_LEVELS), "volume: noise scaled by "
    "U(0, --background_volume); snr: speech-to-noise ratio U(--background_snr_min_db, "
    "--background_snr_max_db) per clip (_silence_ keeps the volume rule).")
_BACKGROUND_SNR_MIN_DB = flags.DEFINE_float("background_snr_min_db", 0.0, "Lowest SNR (dB).")
_BACKGROUND_SNR_MAX_DB = flags.DEFINE_float("background_snr_max_db", 20.0, "Highest SNR (dB).")
_SPEED_PROBABILITY = flags.DEFINE_float("speed_probability", 0.0, "Share of clips resampled to "
                                        "another speed (tempo and pitch), length kept.")
_SPEED_MIN = flags.DEFINE_float("speed_min", 0.9, "Slowest speed factor.")
_SPEED_MAX = flags.DEFINE_float("speed_max", 1.1, "Fastest speed factor.")
_REVERB_PROBABILITY = flags.DEFINE_float("reverb_probability", 0.0, "Share of clips convolved "
                                         "with a synthetic room impulse response.")
_REVERB_RT60_MIN_S = flags.DEFINE_float("reverb_rt60_min_s", 0.15, "Shortest RT60 (s).")
_REVERB_RT60_MAX_S = flags.DEFINE_float("reverb_rt60_max_s", 0.8, "Longest RT60 (s).")
_REVERB_DRR_MIN_DB = flags.DEFINE_float("reverb_drr_min_db", 0.0,
                                        "Lowest direct-to-reverberant ratio (dB).")
_REVERB_DRR_MAX_DB = flags.DEFINE_float("reverb_drr_max_db", 15.0,
                                        "Highest direct-to-reverberant ratio (dB).")
_EQ_PROBABILITY = flags.DEFINE_float("eq_probability", 0.0, "Share of clips given a random "
                                     "microphone response (low-pass, high-pass, tilt, peak).")
_EQ_LOWPASS_MIN_HZ = flags.DEFINE_float("eq_lowpass_min_hz", 3000.0, "Lowest low-pass cutoff.")
_EQ_LOWPASS_MAX_HZ = flags.DEFINE_float("eq_lowpass_max_hz", 8000.0, "Highest low-pass cutoff.")
_EQ_HIGHPASS_MIN_HZ = flags.DEFINE_float("eq_highpass_min_hz", 50.0, "Lowest high-pass cutoff.")
_EQ_HIGHPASS_MAX_HZ = flags.DEFINE_float("eq_highpass_max_hz", 400.0,
                                         "Highest high-pass cutoff.")
_EQ_TILT_DB_PER_OCTAVE = flags.DEFINE_float("eq_tilt_db_per_octave", 2.0,
                                            "Largest spectral tilt (+- dB/octave, 0 at 1 kHz).")
_EQ_PEAK_DB = flags.DEFINE_float("eq_peak_db", 6.0, "Largest EQ peak or dip (+- dB).")
# Features
_FEATURE_TYPE = flags.DEFINE_enum("feature_type", "mfcc", list(frontend.FEATURE_TYPES), "Front end.")
_CLIP_DURATION_MS = flags.DEFINE_integer(
    "clip_duration_ms", None, "Length of the classified window (a phrase needs its whole length "
    "inside). Default: the clip length of a `kws synth` dataset (its manifest says it), else 1000.",
    lower_bound=100)
_WINDOW_SIZE_MS = flags.DEFINE_float("window_size_ms", 30.0, "STFT window.")
_WINDOW_STRIDE_MS = flags.DEFINE_float("window_stride_ms", 20.0, "STFT hop.")
_NUM_MEL_BINS = flags.DEFINE_integer("num_mel_bins", 40, "Mel bands.")
_NUM_MFCC = flags.DEFINE_integer("num_mfcc", 10, "MFCCs kept.")
_LOWER_EDGE_HZ = flags.DEFINE_float("lower_edge_hz", 20.0, "Lowest mel edge.")
_UPPER_EDGE_HZ = flags.DEFINE_float("upper_edge_hz", 4000.0, "Highest mel edge.")
# Model
_MODEL = flags.DEFINE_enum("model", "ds_cnn", list(FAMILIES), "Model family.")
_MODEL_SIZE = flags.DEFINE_enum("model_size", "s", list(DS_CNN_SIZES), "ds_cnn size.")
_CHANNELS = flags.DEFINE_integer("channels", 0, "ds_cnn channels of every layer (0: the "
                                 "--model_size's own: s 64, m 172, l 276).")
_WIDTH = flags.DEFINE_integer("width", 1, "bc_resnet width multiplier (1-8); cnn/crnn channels.")
_DROPOUT = flags.DEFINE_float("dropout", 0.2, "Dropout before the classifier.")
_STREAMABLE = flags.DEFINE_bool(
    "streamable", True, "Build ds_cnn / bc_resnet without time padding so that kws-export also "
    "writes stateful streaming models (one hop per call). Other families are window-only and "
    "ignore this flag.")
# Training
_WORKDIR = flags.DEFINE_string("workdir", "runs/default", "Working directory (checkpoints, logs).")
_EPOCHS = flags.DEFINE_integer("epochs", 30, "Passes over the training split.")
_STEPS = flags.DEFINE_integer("steps", 0, "If > 0: stop after this many steps in all.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Global batch size.")
_OPTIMIZER = flags.DEFINE_enum("optimizer", "adam", list(tc.OPTIMIZERS), "Optimizer.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 3e-3, "Peak learning rate.")
_SCHEDULE = flags.DEFINE_enum("schedule", "cosine", list(tc.SCHEDULES), "Learning-rate schedule.")
_WARMUP_EPOCHS = flags.DEFINE_float("warmup_epochs", 1.0, "Warm-up of the cosine schedule.")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", 1e-4, "Decoupled weight decay (adamw, sgd).")
_LABEL_SMOOTHING = flags.DEFINE_float("label_smoothing", 0.05, "Label smoothing.")
_TEACHER_DIR = flags.DEFINE_string(
    "teacher_dir", "", "Knowledge distillation: workdir of a finished (larger) run with the same "
    "labels and front end; its probabilities join the labels as training targets.")
_TEACHER_PROBS = flags.DEFINE_string(
    "teacher_probs", "", "Knowledge distillation from a teacher that is not a kws run (e.g. "
    "benchmarks/embedding_real_voices.py --teacher_output): an .npz of its probabilities on "
    "every training clip; they join the labels as training targets.")
_TEACHER_CHECKPOINT = flags.DEFINE_string(
    "teacher_checkpoint", "best", "The teacher run's checkpoint: best, last or a .keras file.")
_DISTILL_WEIGHT = flags.DEFINE_float("distill_weight", 0.5, "Teacher's share of the target.")
_DISTILL_TEMPERATURE = flags.DEFINE_float("distill_temperature", 2.0,
                                          "Temperature softening the teacher's probabilities.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of shuffling, augmentation and initialisation.")
_STRATEGY = flags.DEFINE_enum("strategy", "default", list(tc.STRATEGIES),
                              "default, mirrored (local GPUs/devices), multi_worker (TF_CONFIG).")
_STREAM_SELECT_FA_PER_HOUR = flags.DEFINE_float(
    "stream_select_fa_per_hour", 0.0, "If > 0: also keep checkpoints/stream_best.keras, the epoch "
    "whose detector, calibrated for this false-accept budget, misses fewest keywords on a "
    "recording made from the validation split (kws.training.stream_select; "
    "--checkpoint=stream_best).", lower_bound=0)
_STREAM_SELECT_MINUTES = flags.DEFINE_float("stream_select_minutes", 20.0, "Length of that "
                                            "validation recording.")
_STREAM_SELECT_FROM_EPOCH = flags.DEFINE_integer("stream_select_from_epoch", 1, "First epoch "
                                                 "evaluated on it.", lower_bound=1)
_INIT_FROM = flags.DEFINE_string("init_from", "", "Start from the last checkpoint of this run "
                                 "(same model and labels), e.g. after `kws mine`.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Discard a different run found in --workdir.")


def _data_dir() -> str:
    """The dataset folder: --data_dir (downloaded from --data_url when given), else the synthetic one."""
    if _DATA_URL.value:
        from kws.data import download  # pylint: disable=g-import-not-at-top
        target = _DATA_DIR.value or os.path.join(os.path.expanduser("~"), ".cache", "kws", "download")
        download.download_dataset(_DATA_URL.value, target, sha256=_DATA_SHA256.value or None)
        return target
    if _DATA_DIR.value:
        return _DATA_DIR.value
    return synth.ensure_default_dataset(_SYNTH_DIR.value)


def _clip_duration_ms(data_dir: str) -> int:
    """--clip_duration_ms, else the synthetic dataset's own clip length, else 1000 ms."""
    if _CLIP_DURATION_MS.value is not None:
        return _CLIP_DURATION_MS.value
    manifest = os.path.join(data_dir, synth.MANIFEST_NAME)
    if not os.path.isfile(manifest):
        return 1000
    try:
        with open(manifest, encoding="utf-8") as f:
            value = json.load(f)["config"]["clip_duration_ms"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{manifest} is unreadable ({e}); pass --clip_duration_ms") from e
    if not isinstance(value, int) or value < 100:
        raise UserError(f"{manifest} gives clip_duration_ms={value!r}; pass --clip_duration_ms")
    return value


def build_config() -> tc.TrainConfig:
    """The TrainConfig that the flags describe."""
    data = sc.DataConfig(
        data_dir=_data_dir(), label_mode=_LABEL_MODE.value, wanted_words=tuple(_WANTED_WORDS.value),
        silence_percentage=_SILENCE_PERCENTAGE.value, unknown_percentage=_UNKNOWN_PERCENTAGE.value,
        validation_percentage=_VALIDATION_PERCENTAGE.value,
        testing_percentage=_TESTING_PERCENTAGE.value,
        background_noise_dir=_BACKGROUND_NOISE_DIR.value, skip_bad_files=_SKIP_BAD_FILES.value,
        negative_dirs=tuple(_NEGATIVE_DIRS.value), negative_percentage=_NEGATIVE_PERCENTAGE.value,
        resample_on_load=_RESAMPLE_ON_LOAD.value)
    num_classes = (len(_WANTED_WORDS.value) + 2 if _LABEL_MODE.value == "keywords" else
                   len(sc.index_dataset(data).labels))
    return tc.TrainConfig(
        data=data,
        features=frontend.FrontendConfig(
            feature_type=_FEATURE_TYPE.value, window_size_ms=_WINDOW_SIZE_MS.value,
            window_stride_ms=_WINDOW_STRIDE_MS.value, num_mel_bins=_NUM_MEL_BINS.value,
            num_mfcc=_NUM_MFCC.value, lower_edge_hz=_LOWER_EDGE_HZ.value,
            upper_edge_hz=_UPPER_EDGE_HZ.value, sample_rate_hz=data.sample_rate_hz,
            clip_duration_ms=_clip_duration_ms(data.data_dir)),
        augment=augment.AugmentConfig(
            time_shift_ms=_TIME_SHIFT_MS.value, background_frequency=_BACKGROUND_FREQUENCY.value,
            background_volume=_BACKGROUND_VOLUME.value, gain_db=_GAIN_DB.value,
            time_masks=_TIME_MASKS.value, time_mask_max_frames=_TIME_MASK_MAX_FRAMES.value,
            freq_masks=_FREQ_MASKS.value, freq_mask_max_bins=_FREQ_MASK_MAX_BINS.value,
            feature_noise=_FEATURE_NOISE.value, vtlp_probability=_VTLP_PROBABILITY.value,
            vtlp_min=_VTLP_MIN.value, vtlp_max=_VTLP_MAX.value,
            background_level=_BACKGROUND_LEVEL.value,
            background_snr_min_db=_BACKGROUND_SNR_MIN_DB.value,
            background_snr_max_db=_BACKGROUND_SNR_MAX_DB.value,
            speed_probability=_SPEED_PROBABILITY.value, speed_min=_SPEED_MIN.value,
            speed_max=_SPEED_MAX.value, reverb_probability=_REVERB_PROBABILITY.value,
            reverb_rt60_min_s=_REVERB_RT60_MIN_S.value, reverb_rt60_max_s=_REVERB_RT60_MAX_S.value,
            reverb_drr_min_db=_REVERB_DRR_MIN_DB.value, reverb_drr_max_db=_REVERB_DRR_MAX_DB.value,
            eq_probability=_EQ_PROBABILITY.value, eq_lowpass_min_hz=_EQ_LOWPASS_MIN_HZ.value,
            eq_lowpass_max_hz=_EQ_LOWPASS_MAX_HZ.value,
            eq_highpass_min_hz=_EQ_HIGHPASS_MIN_HZ.value,
            eq_highpass_max_hz=_EQ_HIGHPASS_MAX_HZ.value,
            eq_tilt_db_per_octave=_EQ_TILT_DB_PER_OCTAVE.value, eq_peak_db=_EQ_PEAK_DB.value),
        pipeline=pl.PipelineConfig(batch_size=_BATCH_SIZE.value, seed=_SEED.value,
                                   unknown_resample=_UNKNOWN_RESAMPLE.value),
        placement=placement.PlacementConfig(
            end_aligned=_END_ALIGNED.value, end_min_ms=_END_MIN_MS.value,
            end_max_ms=_END_MAX_MS.value, partial_probability=_PARTIAL_PROBABILITY.value,
            reversed_probability=_REVERSED_PROBABILITY.value),
        model=ModelConfig(name=_MODEL.value, num_classes=num_classes, size=_MODEL_SIZE.value,
                          channels=_CHANNELS.value, width=_WIDTH.value, dropout=_DROPOUT.value,
                          streamable=_STREAMABLE.value and _MODEL.value in STREAMABLE_FAMILIES),
        epochs=_EPOCHS.value, steps=_STEPS.value, optimizer=_OPTIMIZER.value,
        learning_rate=_LEARNING_RATE.value, schedule=_SCHEDULE.value,
        warmup_epochs=_WARMUP_EPOCHS.value, weight_decay=_WEIGHT_DECAY.value,
        label_smoothing=_LABEL_SMOOTHING.value, teacher_dir=_TEACHER_DIR.value,
        teacher_probs=_TEACHER_PROBS.value,
        teacher_checkpoint=_TEACHER_CHECKPOINT.value,
        distill_weight=_DISTILL_WEIGHT.value, distill_temperature=_DISTILL_TEMPERATURE.value,
        strategy=_STRATEGY.value, init_from=_INIT_FROM.value,
        stream_select=tc.StreamSelectConfig(fa_per_hour=_STREAM_SELECT_FA_PER_HOUR.value,
                                            minutes=_STREAM_SELECT_MINUTES.value,
                                            from_epoch=_STREAM_SELECT_FROM_EPOCH.value))


def main(argv: list[str]) -> None:
    del argv
    from kws.training import trainer  # pylint: disable=g-import-not-at-top

    try:
        config = build_config()
    except ValueError as e:  # a config check (kws.*.Config.__post_init__) failed: the flags' fault
        raise UserError(f"{e} (fix the flags of those names)") from e
    trainer.train_and_evaluate(config, _WORKDIR.value, overwrite=_OVERWRITE.value)
