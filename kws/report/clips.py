"""The misclassified test clips: a player with the clip's WAV, its log-mel spectrogram, its top-3.

The clips and scores come from the evaluation JSON (kws.training.evaluate.misclassified_clips,
most confident mistakes first); the spectrogram is the run's own front end (kws.frontend) with
feature_type log_mel and the run's window, stride and bands.
"""

from __future__ import annotations

import dataclasses
import io
import os
import wave

import numpy as np

from kws import audio
from kws.data import decode
from kws.report import markup
from kws.report import plots


def wav_bytes(pcm: np.ndarray, sample_rate_hz: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``pcm`` (int16 [samples]) in memory."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate_hz)
        w.writeframes(np.asarray(pcm, "<i2").tobytes())
    return out.getvalue()


def log_mel(samples: np.ndarray, features) -> np.ndarray:
    """Log-mel float32 [frames, bands] of float samples [n] with the run's front end
    (a kws.frontend.FrontendConfig) switched to feature_type log_mel."""
    from kws import frontend  # pylint: disable=import-outside-toplevel  (TensorFlow)

    config = dataclasses.replace(features, feature_type="log_mel")
    return frontend.compute_features(samples.astype(np.float32), config).numpy()


def _card(clip: dict, features, data_dir: str) -> str:
    path = clip["path"]
    top = markup.table(["top 3", "score"], [[t["label"], f"{t['score']:.3f}"]
                                            for t in clip["top3"]])
    head = (f'<div><b>{markup.esc(clip["label"])}</b> heard as '
            f'<b>{markup.esc(clip["predicted"])}</b></div>')
    if not path:
        body = markup.unavailable("a generated _silence_ example (background noise), no file")
        shown = "(generated)"
    elif not os.path.isfile(path):
        body = markup.unavailable(f"clip file not found: {path}")
        shown = path
    else:
        samples = decode.read_clip(path, features.sample_rate_hz)  # WAV, FLAC, OGG
        values = log_mel(samples, features)
        picture = (markup.img(plots.log_mel_image(values, features.window_stride_ms),
                              f"log-mel spectrogram of {path}", css_class="spec")
                   if values.shape[0] else markup.unavailable("clip shorter than one window"))
        body = markup.audio(wav_bytes(audio.to_int16(samples), features.sample_rate_hz)) + picture
        shown = os.path.relpath(path, data_dir) if data_dir and path.startswith(
            os.path.abspath(data_dir) + os.sep) else path
    return (f'<div class="clip" data-path="{markup.esc(path)}">{head}{body}{top}'
            f'<div class="path">{markup.esc(shown)}</div></div>')


def section(result: dict, config: dict, max_clips: int) -> str:
    """The 'misclassified clips' section of an evaluation ``result`` (an eval_<name>.json with
    'misclassified') of the run of ``config`` (its config.json)."""
    clips = result["misclassified"][:max_clips]
    total = int(result.get("misclassified_count", len(result["misclassified"])))
    if not total:
        return f"<p>No misclassified clips: all {result['examples']} examples are right.</p>"
    if not clips:
        return markup.unavailable(f"--max_clips=0 (there are {total} misclassified clips)")
    from kws import frontend  # pylint: disable=import-outside-toplevel  (TensorFlow)

    features = frontend.FrontendConfig.from_dict(config.get("features", {}))
    data_dir = config.get("data", {}).get("data_dir", "")
    cards = "".join(_card(c, features, data_dir) for c in clips)
    return (f'<p class="sub">{len(clips)} of {total} misclassified clips of '
            f'{result["examples"]}, the most confident mistakes first. Spectrograms: log-mel '
            f'of the run\'s front end.</p><div class="clips">{cards}</div>')
