"""kws.head.streams: a long recording's mel made chunk by chunk equals one call on the whole of it
(stand-in models whose outputs say which samples they saw), the device front end gives the same
embeddings chunked as whole, and a recording is embedded once and then read from its cache."""

from __future__ import annotations

import numpy as np

from kws.device import embedding as emb
from kws.head import streams as hs
from kws.stream_eval import recording as rec


class _Mel:
    """Frame i of [clips, samples]: 32 copies of the mean of its 512 samples."""

    def mel_of(self, audio):
        n = emb.mel_frames(audio.shape[1])
        idx = np.arange(n)[:, None] * 160 + np.arange(512)
        return audio[:, idx].mean(axis=2)[..., None].repeat(32, axis=2)


def test_chunked_mel_frames_equal_one_call():
    audio = np.random.default_rng(0).normal(size=16000 * 7 + 333).astype(np.float32)
    whole = _Mel().mel_of(audio[None])[0]
    chunked = hs.mel_of_recording(_Mel(), audio, chunk_frames=97)
    assert len(whole) == (16000 * 7 + 333 - 512) // 160 + 1 == len(chunked)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_the_device_front_end_embeds_a_recording_chunked_as_in_one_call():
    rng = np.random.default_rng(1)
    samples = (3000 * rng.standard_normal(16000 * 9)).astype(np.int16)
    embedder = hs.DeviceEmbedder(threads=1)
    chunked, ends = hs.embeddings_of_recording(embedder, samples, batch=7)
    front = emb.SpeechEmbedding(emb.FRONTEND_CACHE)
    whole = front.embeddings(front.mel(samples.astype(np.float32) / 32768.0))
    assert chunked.shape == whole.shape and len(ends) == len(whole)
    np.testing.assert_array_equal(ends, emb.embedding_end_samples(len(whole)))
    np.testing.assert_allclose(chunked, whole, atol=1e-3 * np.abs(whole).max())


class _CountingEmbedder(_Mel):
    made = 0

    def __init__(self):
        type(self).made += 1

    def embeddings_of_mel(self, mel):
        windows = emb.mel_windows(mel)
        return windows[:, -1, :3, 0].repeat(32, axis=1)  # [n, 96] from each window's last frame


def test_a_recording_is_embedded_once_then_read_from_its_cache(tmp_path, tone_dataset):
    words = ("alpha",)
    clips = {w: tuple(str(p) for p in sorted((tone_dataset / w).glob("*.wav"))) for w in words}
    pools = rec.ClipPools(keywords=clips, unknown=tuple(
        str(p) for p in sorted((tone_dataset / "beta").glob("*.wav"))))
    cache = hs.Embeddings(str(tmp_path / "cache"), _CountingEmbedder,
                          [str(tone_dataset / "_background_noise_")])
    config = rec.RecordingConfig(duration_s=30.0, seed=3)
    first = cache.stream("a", pools, config)
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    again = hs.Embeddings(str(tmp_path / "cache"), _CountingEmbedder,
                          [str(tone_dataset / "_background_noise_")]).stream("a", pools, config)
    assert _CountingEmbedder.made == 1 and len(files) == 1
    np.testing.assert_array_equal(first.embeddings, again.embeddings)
    assert first.events == again.events and len(first.events) > 3
    assert first.duration_s == again.duration_s == 30.0
    cache.stream("a", pools, rec.RecordingConfig(duration_s=30.0, seed=4))  # another recipe
    assert len(list((tmp_path / "cache").iterdir())) == 2
