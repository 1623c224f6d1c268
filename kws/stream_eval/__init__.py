"""The streaming benchmark `kws-stream-eval`: detection quality of a model on long recordings.

* ``kws.stream_eval.truth``     - ground truth events and their CSV file (strictly validated).
* ``kws.stream_eval.recording`` - long test recordings: dataset clips at random times over noise.
* ``kws.stream_eval.sources``   - posteriors hop by hop from an export folder or a Keras checkpoint.
* ``kws.stream_eval.metrics``   - detections vs ground truth: misses, false accepts, latency, sweep.
* ``kws.stream_eval.plots``     - the DET curve and a picture of scores over time.
* ``kws.stream_eval.results``   - one model's figures in a stream_side_by_side.py results.json.
* ``kws.stream_eval.cli``       - the `kws-stream-eval` command.

Detections come from the device script's own ``kws.device.detect.Detector``. TensorFlow is
imported only to run a Keras checkpoint.
"""
