"""Live microphone input: sounddevice (imported here, when used) feeds a StreamingRecognizer.

The audio callback only copies samples into a queue; classification runs in the calling thread, so a
slow model drops nothing but falls behind (reported as input overflows by PortAudio). Ctrl-C stops
listening cleanly: the stream is closed and the number of detections returned.
"""

from __future__ import annotations

import queue
import time
from typing import Callable

from kws.device import detect
from kws.device import stream
from kws.errors import UserError


class MicrophoneError(UserError):
    """No usable microphone, or sounddevice is not installed."""


def _sounddevice():
    try:
        import sounddevice  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise MicrophoneError("--mic needs the sounddevice package (and PortAudio): "
                              "`pip install sounddevice`") from e
    except OSError as e:  # sounddevice is installed but PortAudio is not
        raise MicrophoneError(f"sounddevice cannot load PortAudio ({e}); install it, e.g. "
                              "`apt-get install libportaudio2`") from e
    return sounddevice


def listen(recognizer: stream.StreamingRecognizer,
           on_detection: Callable[[detect.Detection], None], *, device: str | int | None = None,
           seconds: float = 0.0, on_status: Callable[[str], None] | None = None) -> int:
    """Streams microphone audio into ``recognizer`` until Ctrl-C (or ``seconds`` > 0 have passed).

    Returns the number of detections.
    """
    sd = _sounddevice()
    chunks: queue.Queue = queue.Queue()

    def callback(indata, frames, time_info, status):  # PortAudio's thread
        del frames, time_info
        if status and on_status is not None:
            on_status(str(status))
        chunks.put(indata[:, 0].copy())

    count = 0
    recognizer.reset()
    try:
        with sd.InputStream(samplerate=recognizer.sample_rate_hz, channels=1, dtype="float32",
                            blocksize=recognizer.hop_samples, device=device, callback=callback):
            start = time.monotonic()
            while not seconds or time.monotonic() - start < seconds:
                try:
                    chunk = chunks.get(timeout=0.1)
                except queue.Empty:
                    continue
                for detection in recognizer.feed(chunk):
                    count += 1
                    on_detection(detection)
    except KeyboardInterrupt:
        pass
    except sd.PortAudioError as e:
        raise MicrophoneError(f"cannot record from microphone {device or '(default)'}: {e}; list "
                              "devices with `python -m sounddevice` and pass --mic_device") from e
    return count
