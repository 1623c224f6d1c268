"""The `kws` command: `kws <subcommand> [--flags]`.

Each subcommand is a thin absl main in ``kws.commands.<name>`` (flags declared at module level, read
only in its ``main``). Only the chosen module is imported, so the flags of one subcommand never clash
with another's and `kws <subcommand> --help` lists just its own.
"""

from __future__ import annotations

import importlib
import sys

from absl import app
from absl import flags

from kws import quiet
from kws.errors import UserError

SUBCOMMANDS = {
    "synth": "generate the synthetic Speech Commands-style dataset with the installed TTS engines",
    "prepare": "convert a folder of any audio into 16 kHz mono 16-bit WAV in the same layout",
    "data": "index a dataset and print clips per split and label",
    "train": "train a model (resumable); also `kws-train`",
    "eval": "score a checkpoint on a split or folder tree; also `kws-eval`",
    "head": "a detector on the frozen speech embedding, trained on long generated recordings",
    "mine": "hard-negative mining: the windows of other speech on which a run fires",
    "report": "write report.html, a page to look at and listen to a run",
}
_MODULES = {"eval": "evaluate"}


def _usage() -> str:
    rows = "\n".join(f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items())
    return f"usage: kws <subcommand> [--flags]\n\nsubcommands:\n{rows}\n\n" \
           "`kws <subcommand> --help` lists a subcommand's flags."


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    _quiet_or_exit("kws")  # before a subcommand's module imports TensorFlow
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(_usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    name = argv[1]
    if name not in SUBCOMMANDS:
        print(f"kws: unknown subcommand {name!r}; valid: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f"kws.commands.{_MODULES.get(name, name)}")
    run_command(module, f"kws {name}", argv[2:])


def run_command(module, name: str, args: list[str]) -> None:
    """Runs ``module.main`` as an absl program called ``name`` with ``args``.

    `--help` lists the module's own flags (absl's lists only the __main__ module's), and a UserError
    ends the program with its one-line message and exit code 1 instead of a traceback. Imports no
    TensorFlow, so the device script uses it too. TensorFlow's start-up lines stay off the console
    (kws.quiet) unless KWS_TF_LOGS=1.
    """
    _quiet_or_exit(name)
    if any(a in ("-h", "--help", "-help") for a in args):
        print(f"{name}: {(module.__doc__ or '').strip()}\n")
        print(flags.FLAGS.module_help(module))
        sys.exit(0)

    def run(argv):
        try:
            return module.main(argv)
        except UserError as e:
            print(f"{name}: error: {e}", file=sys.stderr)
            sys.exit(1)

    app.run(run, argv=[name] + list(args))


def _quiet_or_exit(name: str) -> None:
    try:
        quiet.install()
    except UserError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        sys.exit(1)


def train() -> None:
    """`kws-train`: `kws train`."""
    main([sys.argv[0], "train"] + sys.argv[1:])


def evaluate() -> None:
    """`kws-eval`: `kws eval`."""
    main([sys.argv[0], "eval"] + sys.argv[1:])


if __name__ == "__main__":
    main()
