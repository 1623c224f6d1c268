"""kws: keyword spotting, from audio front end to on-device inference.

The package reads as the flow it implements:

* ``kws.frontend``   - the one audio front end (spectrogram, log-mel, MFCC, micro).
* ``kws.audio``      - strict WAV reading and writing (standard library + numpy only).
* ``kws.data``       - dataset layout, splits, augmentation, tf.data pipeline, synthesis.

Importing ``kws`` imports nothing heavy: TensorFlow is loaded only by the modules that need it.
"""

__version__ = "0.1.0"
