"""Export of a training run for inference: TFLite models, a C array for microcontrollers, a report.

* ``kws.export.exporter`` - export(ExportConfig): the whole export of a training working directory.
* ``kws.export.tflite``   - waveform-in models (front end float inside the graph, body int8) and the
  int8 features-in model for TFLite Micro, all through TFLiteConverter.from_keras_model.
* ``kws.export.clips``    - a split's waveforms as the evaluation pipeline makes them; calibration.
* ``kws.export.measure``  - op lists, LiteRT latency, TFLite Micro arena size (no TensorFlow).
* ``kws.export.c_array``  - model_data.cc/.h and model_settings.h for an MCU project.
* ``kws.export.report``   - accuracy of Keras / float / int8, agreement, feature parity; the table.
* ``kws.export.demo``     - a tiny tone dataset, trained and exported: tests, CI, a first try.
* ``kws.export.runner``   - exported models as batch predictors on LiteRT, in-graph features.
* ``kws.export.cli``      - the `kws-export` command.

The device side (kws.device) reads what this package writes without TensorFlow.
"""
