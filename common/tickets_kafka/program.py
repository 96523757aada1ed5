"""How each of the pipeline's programs starts: its --help, its environment and its logging.

A program's --help is its module docstring, the first paragraph as the description and the rest
as the epilog, followed by two generated sections: the variables it reads, each with its default
and its line of help (tickets_kafka.settings.setting), and, where it has them, its exit codes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Iterable, Mapping

from dotenv import load_dotenv

from tickets_kafka.settings import Variable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def environment_help(variables: Iterable[Variable]) -> str:
    """One entry per variable: NAME=default, its help indented below."""
    lines = ["Environment (also read from ./.env; the environment wins over it):"]
    for variable in variables:
        lines.append(f"  {variable.name}={variable.default}")
        lines.extend(
            textwrap.wrap(variable.help, width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
        )
    return "\n".join(lines)


def exit_codes_help(codes: Mapping[int, str]) -> str:
    lines = ["Exits:"]
    for code, meaning in codes.items():
        lines.extend(
            textwrap.wrap(meaning, width=96, initial_indent=f"  {code}   ", subsequent_indent=" " * 6)
        )
    return "\n".join(lines)


def parser(
    prog: str, doc: str, variables: Iterable[Variable] = (), exit_codes: Mapping[int, str] | None = None
) -> argparse.ArgumentParser:
    """A program's parser, whose --help is `doc` with the variables and exit codes appended."""
    description, _, rest = doc.partition("\n\n")
    sections = [rest.strip()]
    if variables:
        sections.append(environment_help(variables))
    if exit_codes:
        sections.append(exit_codes_help(exit_codes))
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="\n\n".join(section for section in sections if section),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def read_environment() -> Mapping[str, str]:
    """The process's environment over ./.env of the working directory (the environment wins)."""
    load_dotenv(".env")
    if os.environ.get("AWS_REGION"):
        # botocore, which kafka-python's MSK IAM login asks, reads the region from this name only.
        os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
    return os.environ


def start_logging(level: str | int = logging.INFO, quiet: Mapping[str, int] | None = None) -> None:
    """Log lines on stderr in the pipeline's one format, at `level`; the loggers in `quiet` (a
    client library's) no lower than the level given for each."""
    logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(level)
    for name, at_least in (quiet or {}).items():
        logging.getLogger(name).setLevel(at_least)
