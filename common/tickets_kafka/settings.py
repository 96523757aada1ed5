"""Reading a program's settings from its environment: one vocabulary and one message for both
programs.

A program declares each setting once, as a field of its settings dataclass that names its
variable, its reader (a method of Env), its default and its one line of help:

    ticket_count: int = setting("TICKET_COUNT", Env.whole, 200, help="tickets to send per run")

`variables` lists them (with those of a part such as KafkaSecurity) for the program's --help
(tickets_kafka.program) and for `.env.example`, which is generated from them.

`read_fields` reads them all through an `Env`, which collects every problem instead of stopping
at the first; `Env.check()` then raises one ConfigError that lists them all ("invalid
configuration: TICKET_COUNT='many' is not a whole number; LOG_LEVEL=..."). An empty variable means
its default, as an unset one does; a feature that can be turned off (`Env.name_or_off`,
`Env.port_or_off`) is turned off with a false word (off, false, no, 0). Nothing here reads
os.environ: the caller passes the mapping, so that settings are tested without touching the
process's environment.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """The environment does not describe a runnable program; the message says what to fix."""

    exit_code = 2


class Env:
    """Typed reads of `env`, each falling back to its default and recording what is wrong."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def check(self) -> None:
        """Raise ConfigError naming every problem found so far, if there is any."""
        if self.problems:
            raise ConfigError("invalid configuration: " + "; ".join(self.problems))

    def raw(self, name: str) -> str | None:
        """The variable, stripped; None when it is unset or empty."""
        return self.env.get(name, "").strip() or None

    def text(self, name: str, default: str | None) -> str | None:
        return self.raw(name) or default

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        if raw.lower() not in TRUE_WORDS | FALSE_WORDS:
            self.problem(f"{name}={raw!r} must be true or false")
            return default
        return raw.lower() in TRUE_WORDS

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        """One of `choices` (given in upper case; the value is read case-insensitively)."""
        raw = self.raw(name)
        if raw is None:
            return default
        if raw.upper() not in choices:
            self.problem(f"{name}={raw.upper()!r} must be one of {', '.join(choices)}")
            return default
        return raw.upper()

    def whole(self, name: str, default: int | None, minimum: int = 0) -> int | None:
        raw = self.raw(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()):  # str.isdigit() also takes '²' and '٣'
            self.problem(f"{name}={raw!r} is not a whole number")
            return default
        if int(raw) < minimum:
            self.problem(f"{name}={raw!r} must be >= {minimum}")
            return default
        return int(raw)

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(f"{name}={raw!r} is not a number")
            return default
        if value < minimum:
            self.problem(f"{name}={raw!r} must be >= {minimum:g}")
            return default
        return value

    def port(self, name: str, default: int | None) -> int | None:
        number = self.whole(name, default, minimum=1)
        if number is not None and number > 65535:
            self.problem(f"{name}={number} is not a port (1-65535)")
            return default
        return number

    def matching(self, name: str, default: str, pattern: re.Pattern[str], what: str) -> str:
        """A value of a grammar (a Kafka topic name, a Spark interval, a JVM memory size) that
        `pattern` matches whole; `what` describes it to the user."""
        raw = self.raw(name)
        if raw is None:
            return default
        if not pattern.fullmatch(raw):
            self.problem(f"{name}={raw!r} is not {what}")
            return default
        return raw

    def name_or_off(self, name: str, default: str | None) -> str | None:
        """A name (a topic, a group), or None when the variable is a false word (off, false...)."""
        raw = self.raw(name)
        if raw is not None and raw.lower() in FALSE_WORDS:
            return None
        return raw or default

    def port_or_off(self, name: str, default: int | None) -> int | None:
        """A port, or None when the variable is a false word (off, false, no; 0 too)."""
        raw = self.raw(name)
        if raw is not None and raw.lower() in FALSE_WORDS:
            return None
        return self.port(name, default)

    def path(self, name: str, default: Path | None) -> Path | None:
        raw = self.raw(name)
        return Path(raw) if raw else default

    def readable(self, name: str, default: Path | None = None) -> Path | None:
        path = self.path(name, default)
        if path is not None and not path.is_file():
            self.problem(f"{name}={str(path)!r} is not a readable file")
            return None
        return path

    def log_level(self, name: str = "LOG_LEVEL", default: str = "INFO") -> str:
        level = self.text(name, default).upper()
        if not isinstance(logging.getLevelName(level), int):
            self.problem(f"{name}={level!r} is not a logging level")
            return default
        return level


Reader = Callable[..., Any]  # an Env method: (env, variable, default, **options) -> value


@dataclasses.dataclass(frozen=True)
class Variable:
    """An environment variable a program reads: its name, its default as `.env` spells it (empty:
    none) and one line of help."""

    name: str
    default: str
    help: str


def spelled(default: Any) -> str:
    """A default as a variable would hold it: true/false, 0 rather than 0.0, empty for None."""
    if default is None:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def setting(variable: str, read: Reader, default: Any = None, *, help: str, **options: Any) -> Any:
    """A settings field read from `variable` by `read` (Env.text, Env.whole...), else `default`;
    `help` is its line in --help and .env.example; `options` go to the reader (minimum=1)."""
    return dataclasses.field(
        default=default,
        metadata={
            "variable": Variable(variable, spelled(default), help),
            "read": read,
            "options": options,
        },
    )


def part(factory: Callable[[], Any], reads: tuple[Variable, ...]) -> Any:
    """A settings field made of several variables, which its own type reads (KafkaSecurity)."""
    return dataclasses.field(default_factory=factory, metadata={"variables": reads})


def variables(settings_class: type) -> list[Variable]:
    """Every variable `settings_class` reads, in the order of its fields, each once."""
    found: dict[str, Variable] = {}
    for field in dataclasses.fields(settings_class):
        declared = field.metadata.get("variables") or [field.metadata.get("variable")]
        for variable in declared:
            if variable is not None:
                found.setdefault(variable.name, variable)
    return list(found.values())


def read_fields(settings_class: type, env: Env) -> dict[str, Any]:
    """Every field of `settings_class` declared with `setting`, read from `env`."""
    return {
        field.name: field.metadata["read"](
            env, field.metadata["variable"].name, field.default, **field.metadata["options"]
        )
        for field in dataclasses.fields(settings_class)
        if "variable" in field.metadata
    }
