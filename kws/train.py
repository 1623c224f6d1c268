"""`python -m kws.train`: the same as `kws-train` (see kws.commands.train)."""

from kws import cli

if __name__ == "__main__":
    cli.train()
