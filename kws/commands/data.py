"""`kws data`: index a dataset folder and print clips per split and label."""

from __future__ import annotations

from absl import flags

from kws.data import speech_commands as sc

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Dataset root: one folder of WAV clips per word.",
                                required=True)
_LABEL_MODE = flags.DEFINE_enum("label_mode", "keywords", list(sc.LABEL_MODES),
                                "keywords: wanted words + _silence_ + _unknown_; all_words: every "
                                "folder is a label.")
_WANTED_WORDS = flags.DEFINE_list("wanted_words", list(sc.SPEECH_COMMANDS_KEYWORDS),
                                  "Keywords of the keywords label mode.")
_SILENCE_PERCENTAGE = flags.DEFINE_float("silence_percentage", 10.0,
                                         "_silence_ share of each split (percent of keywords).")
_UNKNOWN_PERCENTAGE = flags.DEFINE_float("unknown_percentage", 10.0,
                                         "_unknown_ share of each split (percent of keywords).")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0,
                                            "Validation share of speakers (without list files).")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 10.0,
                                         "Test share of speakers (without list files).")
_BACKGROUND_NOISE_DIR = flags.DEFINE_string("background_noise_dir", "",
                                            "Noise folder; default <data_dir>/_background_noise_.")
_SKIP_BAD_FILES = flags.DEFINE_bool("skip_bad_files", False,
                                    "Count and report unusable files instead of stopping.")


def main(argv: list[str]) -> None:
    del argv
    config = sc.DataConfig(
        data_dir=_DATA_DIR.value, label_mode=_LABEL_MODE.value,
        wanted_words=tuple(_WANTED_WORDS.value), silence_percentage=_SILENCE_PERCENTAGE.value,
        unknown_percentage=_UNKNOWN_PERCENTAGE.value,
        validation_percentage=_VALIDATION_PERCENTAGE.value,
        testing_percentage=_TESTING_PERCENTAGE.value,
        background_noise_dir=_BACKGROUND_NOISE_DIR.value, skip_bad_files=_SKIP_BAD_FILES.value)
    print(sc.format_table(sc.index_dataset(config)))
