"""Thin absl mains, one per `kws` subcommand: flags in, one library call out."""
