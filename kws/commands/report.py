"""`kws report`: one self-contained page (report.html) to look at and listen to a run.

    kws report --workdir=runs/default                    # -> runs/default/report.html
    kws report --workdir=W --export_dir=E --stream_dir=S --output=/tmp/page.html

The page shows the resolved config, the training curves (loss, accuracy, learning rate per epoch),
per-class precision/recall and the confusion matrix, the misclassified test clips (players, log-mel
spectrograms, top-3 scores), the export report and the stream evaluation's DET curve and scores over
time. Everything is embedded: it opens from disk with no server and no network. kws-eval and
kws-stream-eval write it too when they finish.
"""

from __future__ import annotations

from absl import flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A kws-train working directory.", required=True)
_OUTPUT = flags.DEFINE_string("output", "", "The page to write (default: <workdir>/report.html).")
_EVAL_JSON = flags.DEFINE_string("eval_json", "", "Evaluation to show, an eval_<name>.json of "
                                 "kws-eval (default: <workdir>/eval_test.json).")
_EXPORT_DIR = flags.DEFINE_string("export_dir", "", "kws-export folder (default: <workdir>/export "
                                  "when it exists).")
_STREAM_DIR = flags.DEFINE_string("stream_dir", "", "kws-stream-eval --output_dir (default: "
                                  "<workdir>/stream when it exists).")
_MAX_CLIPS = flags.DEFINE_integer("max_clips", 24, "Most misclassified clips shown (each embeds "
                                  "its WAV).", lower_bound=0)


def main(argv: list[str]) -> None:
    del argv
    from kws.report import page  # pylint: disable=g-import-not-at-top

    written = page.write_report(page.ReportConfig(
        workdir=_WORKDIR.value, output=_OUTPUT.value, eval_json=_EVAL_JSON.value,
        export_dir=_EXPORT_DIR.value, stream_dir=_STREAM_DIR.value, max_clips=_MAX_CLIPS.value))
    print(written.summary())
