"""`kws synth`: generate the synthetic Speech Commands-style dataset with the installed TTS engines.

    kws synth --output_dir=data/synth [--words=yes,no,hey_kiwi] [--num_speakers=250] [--seed=59185]

Engines (espeak-ng, flite, festival, piper) are found at run time; `--engines` picks some of them
or adds the opt-in ones (kokoro, rhvoice, pico), e.g. `--engines=kokoro,rhvoice,pico,espeak-ng`.
"""

from __future__ import annotations

from absl import app
from absl import flags

from kws.synth import confusables
from kws.synth import dataset as synth
from kws.synth import engines
from kws.synth import kokoro
from kws.errors import UserError

_DEFAULTS = synth.SynthConfig(output_dir="")

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Folder to create (empty or absent, unless --overwrite); the folder of a "
    "killed run with the same flags continues where it stopped.", required=True)
_WORDS = flags.DEFINE_list(
    "words", list(_DEFAULTS.words),
    "Words or phrases to say; hey_kiwi is spoken 'hey kiwi' into folder hey_kiwi. Default: the 35 "
    "Speech Commands v0.02 words (10 keywords + 25 for _unknown_).")
_NUM_SPEAKERS = flags.DEFINE_integer(
    "num_speakers", _DEFAULTS.num_speakers,
    "Synthetic speakers (voice x pitch x rate); each says every word.", lower_bound=1)
_CLIPS_PER_SPEAKER = flags.DEFINE_integer(
    "clips_per_speaker", _DEFAULTS.clips_per_speaker,
    "Utterances of each word per speaker (repeats vary slightly).", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", _DEFAULTS.seed, "Same seed, same files.")
_SAMPLE_RATE_HZ = flags.DEFINE_integer(
    "sample_rate_hz", _DEFAULTS.sample_rate_hz, "Sample rate of every WAV.", lower_bound=8000)
_CLIP_DURATION_MS = flags.DEFINE_integer(
    "clip_duration_ms", _DEFAULTS.clip_duration_ms, "Length of each clip.", lower_bound=100)
_VALIDATION_PERCENTAGE = flags.DEFINE_float(
    "validation_percentage", _DEFAULTS.validation_percentage,
    "Target share of speakers in validation; whole voice groups are held out.", lower_bound=0)
_TESTING_PERCENTAGE = flags.DEFINE_float(
    "testing_percentage", _DEFAULTS.testing_percentage,
    "Target share of speakers in test; whole voice groups are held out.", lower_bound=0)
_PITCHES_SEMITONES = flags.DEFINE_list(
    "pitches_semitones", [f"{p:g}" for p in _DEFAULTS.pitches_semitones],
    "Pitch shifts a speaker can have, in semitones (resampling: formants move with the pitch, "
    "like a shorter or longer vocal tract).")
_RATES = flags.DEFINE_list(
    "rates", [f"{r:g}" for r in _DEFAULTS.rates],
    "Speaking rates a speaker can have, relative to the engine's pace for a lone word (> 0).")
_NUM_WORKERS = flags.DEFINE_integer(
    "num_workers", _DEFAULTS.num_workers, "Parallel synthesis threads.", lower_bound=1)
_ENGINES = flags.DEFINE_list(
    "engines", [], f"TTS engines to use, from {', '.join(engines.ENGINE_NAMES)}; empty: every "
    f"installed one of {', '.join(engines.DEFAULT_ENGINES)}.")
_KOKORO_LEXICON = flags.DEFINE_string(
    "kokoro_lexicon", None,
    'A JSON file {"word": "phonemes"} overriding Kokoro\'s pronunciation of words (misaki phonemes, '
    "as the manifest's \"pronunciations\" shows them).")
_BACKGROUND_NOISE_DURATION_MS = flags.DEFINE_integer(
    "background_noise_duration_ms", _DEFAULTS.background_noise_duration_ms,
    "Length of each _background_noise_ file; 0 writes none.", lower_bound=0)
_CONFUSABLES_PER_WORD = flags.DEFINE_integer(
    "confusables_per_word", 0,
    "Also say this many confusable words of each --words entry (real words that sound closest, "
    "from a pronouncing dictionary: bed -> bad, bet, bid, ...; kws.synth.confusables), as "
    "negatives; the words added are printed and listed in the manifest.", lower_bound=0)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace a previous synthetic dataset in --output_dir.")


def _floats(flag: flags.FlagHolder) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in flag.value)
    except ValueError as e:
        raise UserError(f"--{flag.name}: {e}; give numbers separated by commas") from e


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    words = tuple(_WORDS.value)
    if _CONFUSABLES_PER_WORD.value:
        words = confusables.expand(words, _CONFUSABLES_PER_WORD.value)
        print(f"confusable negatives: {', '.join(words[len(_WORDS.value):])}", flush=True)
    config = synth.SynthConfig(
        output_dir=_OUTPUT_DIR.value,
        words=words,
        num_speakers=_NUM_SPEAKERS.value,
        clips_per_speaker=_CLIPS_PER_SPEAKER.value,
        seed=_SEED.value,
        sample_rate_hz=_SAMPLE_RATE_HZ.value,
        clip_duration_ms=_CLIP_DURATION_MS.value,
        validation_percentage=_VALIDATION_PERCENTAGE.value,
        testing_percentage=_TESTING_PERCENTAGE.value,
        pitches_semitones=_floats(_PITCHES_SEMITONES),
        rates=_floats(_RATES),
        num_workers=_NUM_WORKERS.value,
        engines=tuple(_ENGINES.value),
        kokoro_lexicon=tuple(sorted(kokoro.read_lexicon(_KOKORO_LEXICON.value).items()))
        if _KOKORO_LEXICON.value else (),
        background_noise_duration_ms=_BACKGROUND_NOISE_DURATION_MS.value,
        overwrite=_OVERWRITE.value)
    print(synth.synthesize_dataset(config).report())
