"""On-device inference from an export folder, without TensorFlow.

Only numpy, absl-py and ai-edge-litert are needed here (sounddevice for live microphone input,
imported when used). Nothing in this package may import TensorFlow, directly or through
``kws.frontend``: tests/test_device.py checks that in a subprocess that blocks TensorFlow.

* ``kws.device.model``    - the export folder: checks labels, front-end config, .tflite; predicts.
* ``kws.device.wav``      - WAV files as model input: mono, at the model's rate, one window long.
* ``kws.device.resample`` - polyphase (Kaiser-windowed sinc) resampling in numpy.
* ``kws.device.detect``   - streaming detection: posterior smoothing, threshold, suppression.
* ``kws.device.stream``   - runs a classifier every hop over a sliding window of audio.
* ``kws.device.mic``      - live microphone input (sounddevice).
* ``kws.device.cli``      - the `kws-infer` command.
"""
