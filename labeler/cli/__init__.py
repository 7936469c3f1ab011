"""The ``labeler`` command: a thin typer layer over library functions that return data.

Data goes to files (or stdout where asked); summaries, progress and errors go to stderr.
Exit codes (:class:`labeler.errors.ExitCode`): 0 ok · 1 internal error (a bug) · 2 usage,
config or rules error, or output exists without ``--overwrite`` · 3 finished, but some input
rows went to the errors file · 4 the input could not be read.

Each command family lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import typer

from ..errors import ExitCode, LabelerError

__all__ = ["app", "main", "err_console"]


def _cli_exception_types() -> tuple[tuple[type[BaseException], ...], ...]:
    """Exit / abort / usage exception classes of typer, whether it vendors click or uses it."""
    exits: list[type[BaseException]] = [typer.Exit]
    aborts: list[type[BaseException]] = [typer.Abort]
    usage: list[type[BaseException]] = [getattr(typer, "TyperException", typer.BadParameter)]
    try:
        import click

        exits.append(click.exceptions.Exit)
        aborts.append(click.exceptions.Abort)
        usage.append(click.ClickException)
    except ImportError:  # pragma: no cover - typer without click
        pass
    for mod_name in ("typer._click.exceptions",):
        try:
            mod = __import__(mod_name, fromlist=["Exit"])
        except ImportError:
            continue
        for bucket, name in ((exits, "Exit"), (aborts, "Abort"), (usage, "ClickException")):
            cls = getattr(mod, name, None)
            if isinstance(cls, type):
                bucket.append(cls)
    return tuple(exits), tuple(aborts), tuple(usage)


_CLI_EXIT, _CLI_ABORT, _CLI_USAGE = _cli_exception_types()

app = typer.Typer(
    name="labeler",
    help=(
        "Radiology report labeling engine: report text -> sections -> mentions -> ConText assertion -> "
        "labels keyed by study UID.\n\n"
        "Exit codes: 0 ok, 1 internal error, 2 usage/config/rules error, 3 some rows failed "
        "(see <out>.errors.jsonl), 4 input unreadable."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def err_console():  # noqa: ANN201 - rich Console
    """A rich console on stderr (summaries and progress never go to stdout)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def command_line() -> str:
    """The command as typed (``labeler`` + its arguments, shell-quoted), for provenance in outputs."""
    import shlex

    return "labeler " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated option as a list, blanks dropped (``None`` when not given)."""
    if not value:
        return None
    return [s.strip() for s in value.split(",") if s.strip()]


def print_error_reasons(console: Any, reasons: dict[str, int], errors_file: object) -> None:
    """The ``errors by reason: <reason>: <n>, ... -> <errors file>`` line, when there were errors."""
    if reasons:
        console.print("errors by reason: " + ", ".join(f"{k}: {v}" for k, v in reasons.items()) + f" -> {errors_file}")


def setup_logging(level: str) -> None:
    """Configure stdlib logging to stderr. Log records never carry report text."""
    numeric = getattr(logging, level.upper(), None)
    if not isinstance(numeric, int):
        raise typer.BadParameter(f"unknown log level {level!r}")
    logging.basicConfig(level=numeric, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def _register() -> None:
    from . import explain, info, label, rules  # noqa: F401 - commands register on import

    for optional in ("evaluate", "train", "noise", "topics", "images"):
        try:
            __import__(f"{__name__}.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{optional}":
                raise


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and map errors to exit codes (no tracebacks for bad input)."""
    _register()
    try:
        rv = app(args=argv, prog_name="labeler", standalone_mode=False)
        code = int(rv) if isinstance(rv, int) else ExitCode.OK
    except LabelerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except _CLI_EXIT as exc:
        code = getattr(exc, "exit_code", ExitCode.OK)
    except _CLI_ABORT:
        print("aborted", file=sys.stderr)
        code = 130
    except _CLI_USAGE as exc:  # bad option, missing argument ...
        exc.show()
        code = ExitCode.USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except Exception:  # noqa: BLE001 - last resort: a bug
        print("internal error (please report it):", file=sys.stderr)
        traceback.print_exc()
        code = ExitCode.INTERNAL
    sys.exit(code)
