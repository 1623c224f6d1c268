"""`kws report`: one self-contained HTML page to look at (and listen to) a run.

* ``kws.report.run``    - what a working directory holds: config, history, evaluation, export, stream.
* ``kws.report.plots``  - matplotlib (Agg) pictures as PNG bytes: training curves, log-mel images.
* ``kws.report.markup`` - small HTML pieces: escaped tables, embedded images and audio.
* ``kws.report.clips``  - the misclassified test clips: audio players, log-mel images, top-3 scores.
* ``kws.report.page``   - the sections and the page; what kws-eval and kws-stream-eval call.

The page embeds everything (PNG and WAV as base64 data URLs, inline CSS, no script): it opens from
disk with no server and no network.
"""
