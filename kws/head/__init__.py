"""Heads over Google's frozen speech embedding, trained on the time axis (`kws head`).

``labels``: per-step targets of a generated recording; ``streams``: recordings made from a dataset's
clips, embedded once and cached; ``trainer``: the head, its training with hard-negative mining and
its calibrated detector; ``recipe``: what `kws head` trains on (pools, recordings, seeds).
"""
