"""Rules as versioned, schema-validated data.

A ruleset is a directory::

    manifest.yaml            name, semver version, exported observations in output order
    sections.yaml            section headers and which sections are labeled
    aggregation.yaml         modifier effects, precedence, derived labels (No Finding), implications
    findings/<id>.yaml       one file per observation: mention rules, exclusions, examples
    assertion/<name>.yaml    ConText modifier rules, one file per category, with examples

The engine's default ruleset (the 14 CheXpert observations) ships inside the package and is
found with :mod:`importlib.resources`; ``load_ruleset(path)`` loads any other directory, so a new
label set needs no code. Every file is validated by the pydantic models below (unknown keys are
errors), and :func:`ruleset_json_schema` exports their JSON Schema for editors.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import RuleError

__all__ = [
    "Ruleset",
    "load_ruleset",
    "default_rules_path",
    "ruleset_json_schema",
    "lint_ruleset",
    "Manifest",
    "FindingFile",
    "ModifierFile",
    "SectionsFile",
    "AggregationFile",
    "PhraseRule",
    "ModifierRule",
    "MODIFIER_CATEGORIES",
]

SCHEMA_VERSION = 1
_RULE_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.\-]+)?$")

StatusName = Literal["present", "absent", "uncertain", "not_mentioned"]
#: ConText categories a modifier file may declare (closed vocabulary).
MODIFIER_CATEGORIES = ("negated", "uncertain", "hypothetical", "historical", "pseudo", "terminate")
ModifierCategory = Literal["negated", "uncertain", "hypothetical", "historical", "pseudo", "terminate"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_patterns(patterns: list[str]) -> list[str]:
    for pat in patterns:
        try:
            re.compile(pat)
        except re.error as exc:
            raise ValueError(f"pattern {pat!r} does not compile: {exc}") from None
    return patterns


def _check_rule_id(v: str) -> str:
    if not _RULE_ID.match(v):
        raise ValueError(f"rule id {v!r} must be dotted lower_snake (e.g. 'pleural_effusion.mention.001')")
    return v


class PhraseRule(_Strict):
    """A mention or exclusion rule: literal phrases and/or regular expressions.

    Phrases match case-insensitively at word boundaries; a space or hyphen in a phrase matches any
    run of spaces/hyphens/newlines; regular plurals (``s``/``es``) match unless ``plurals: false``.
    Patterns are Python regexes matched on the lower-cased sentence (add your own ``\\b``).
    """

    id: str
    phrases: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    plurals: bool = True
    status: Literal["present", "absent", "uncertain"] | None = Field(
        default=None,
        description="Fixed status asserted by the phrase itself (e.g. 'normal heart size' is an "
        "absent mention of cardiomegaly); such mentions are not re-interpreted by ConText.",
    )
    note: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_rule_id(v)

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        return _check_patterns(v)

    @model_validator(mode="after")
    def _nonempty(self) -> PhraseRule:
        if not self.phrases and not self.patterns:
            raise ValueError(f"rule {self.id} has neither phrases nor patterns")
        return self


class FindingExample(_Strict):
    """A sentence and the status the observation must get when it is the whole labeled text."""

    text: str
    expect: StatusName


class FindingFile(_Strict):
    """``findings/<observation>.yaml``."""

    observation: str
    name: str = Field(description="Display name, used as the output column (e.g. 'Pleural Effusion').")
    description: str = ""
    export: bool = Field(default=True, description="False for helper observations (not written out).")
    mentions: list[PhraseRule]
    exclusions: list[PhraseRule] = Field(default_factory=list)
    examples: list[FindingExample] = Field(default_factory=list)

    @field_validator("observation")
    @classmethod
    def _obs(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"observation id {v!r} must be lower_snake")
        return v


class ModifierRule(_Strict):
    """A ConText modifier rule (medspaCy ``ConTextRule`` semantics).

    ``phrases`` match token sequences case-insensitively; ``token_patterns`` are spaCy ``Matcher``
    patterns (lists of token dicts, fast); ``patterns`` are regexes over the sentence text (each
    costs a pass over the text per sentence: prefer the other two).
    """

    id: str
    phrases: list[str] = Field(default_factory=list)
    token_patterns: list[list[dict[str, Any]]] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    direction: Literal["forward", "backward", "bidirectional", "terminate", "pseudo"]
    max_scope: int | None = Field(default=None, ge=1, description="Scope limit in tokens.")
    allowed_observations: list[str] | None = None
    excluded_observations: list[str] | None = None
    note: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_rule_id(v)

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        return _check_patterns(v)

    @model_validator(mode="after")
    def _check(self) -> ModifierRule:
        if not self.phrases and not self.patterns and not self.token_patterns:
            raise ValueError(f"rule {self.id} has neither phrases nor patterns")
        if self.allowed_observations is not None and self.excluded_observations is not None:
            raise ValueError(f"rule {self.id}: give allowed_observations or excluded_observations, not both")
        return self


class AssertionExample(_Strict):
    """A sentence, a target phrase in it, and the status ConText must give the target."""

    text: str
    target: str
    observation: str | None = Field(
        default=None, description="Observation the target stands for (for rules limited to some observations)."
    )
    expect: StatusName


class ModifierFile(_Strict):
    """``assertion/<name>.yaml``: modifier rules of one category."""

    category: ModifierCategory
    description: str = ""
    terminated_by: list[ModifierCategory] = Field(
        default_factory=list, description="Categories whose modifiers end this category's scope."
    )
    rules: list[ModifierRule]
    examples: list[AssertionExample] = Field(default_factory=list)


class SectionDef(_Strict):
    """One kind of section and the headers that open it."""

    name: str
    headers: list[str]


class SectionsFile(_Strict):
    """``sections.yaml``."""

    sections: list[SectionDef]
    preamble: str = Field(default="preamble", description="Name of the text before the first header.")
    headerless: str = Field(
        default="findings", description="Section name given to a report with no recognised header."
    )


class DerivedRule(_Strict):
    """An observation computed from the others (CheXpert's No Finding)."""

    id: str
    observation: str
    name: str
    blocking_statuses: list[StatusName] = Field(default_factory=lambda: ["present", "uncertain"])
    ignore: list[str] = Field(default_factory=list, description="Observations that do not block.")
    status: StatusName = "present"
    otherwise: StatusName = "not_mentioned"


class Implication(_Strict):
    """``if`` observation has one of ``statuses`` then ``then`` gets at least ``then_status``."""

    id: str
    if_observation: str
    statuses: list[StatusName]
    then_observation: str
    then_status: StatusName


class AggregationFile(_Strict):
    """``aggregation.yaml``: how mention statuses become report labels."""

    modifier_effects: dict[str, Literal["absent", "uncertain", "present", "ignore"]]
    modifier_priority: list[str] = Field(
        description="When several modifiers reach one mention, the first category here decides."
    )
    precedence: list[Literal["present", "uncertain", "absent"]] = Field(
        default_factory=lambda: ["present", "uncertain", "absent"]
    )
    derived: list[DerivedRule] = Field(default_factory=list)
    implications: list[Implication] = Field(default_factory=list)


class Manifest(_Strict):
    """``manifest.yaml``."""

    schema_version: int
    name: str
    version: str
    description: str = ""
    observations: list[str] = Field(description="Exported observations, in output column order.")
    label_sections: list[str] = Field(default_factory=lambda: ["findings", "impression"])

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not _SEMVER.match(v):
            raise ValueError(f"version {v!r} is not semver (MAJOR.MINOR.PATCH)")
        return v

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not supported (this engine reads {SCHEMA_VERSION})")
        return v


@dataclass(frozen=True)
class Ruleset:
    """A loaded, validated ruleset. Build stages from it with their ``from_ruleset`` constructors."""

    path: str
    manifest: Manifest
    sections: SectionsFile
    aggregation: AggregationFile
    findings: dict[str, FindingFile]
    modifiers: dict[str, ModifierFile]
    sha256: str

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def observations(self) -> tuple[str, ...]:
        """Exported observation ids, in output order."""
        return tuple(self.manifest.observations)

    @property
    def all_observations(self) -> tuple[str, ...]:
        """Exported observations, then helper (non-exported) ones."""
        hidden = tuple(o for o in self.findings if o not in self.manifest.observations)
        return self.observations + hidden

    def display_name(self, observation: str) -> str:
        """The output column name of an observation."""
        if observation in self.findings:
            return self.findings[observation].name
        for d in self.aggregation.derived:
            if d.observation == observation:
                return d.name
        raise KeyError(observation)

    @property
    def display_names(self) -> tuple[str, ...]:
        """Output column names, in order."""
        return tuple(self.display_name(o) for o in self.observations)

    def summary(self) -> dict[str, object]:
        """Name, version and hash (what provenance records)."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "path": self.path}


def default_rules_path() -> Path:
    """Directory of the ruleset shipped with the package (CheXpert-14)."""
    return Path(str(importlib.resources.files("labeler") / "rules"))


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 the phrase ``no`` would load as ``False``."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _read_yaml(path: Path, root: Path) -> object:
    rel = str(path.relative_to(root))
    try:
        with path.open("r", encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise RuleError(f"invalid YAML: {exc}", file=rel) from None
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", file=rel) from None


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: object, path: Path, root: Path) -> _M:
    rel = str(path.relative_to(root))
    if not isinstance(data, dict):
        raise RuleError("expected a mapping at the top level", file=rel)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise RuleError(f"schema validation failed: {problems}", file=rel) from None


def _rule_files(root: Path) -> Iterator[Path]:
    for pattern in ("*.yaml", "findings/*.yaml", "assertion/*.yaml"):
        yield from sorted(root.glob(pattern))


def _hash_files(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(_rule_files(root), key=lambda p: str(p.relative_to(root))):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def load_ruleset(path: str | Path | None = None) -> Ruleset:
    """Load and validate a ruleset directory (default: the packaged CheXpert-14 ruleset).

    Raises
    ------
    RuleError
        With the file and rule id, when a file is missing, malformed or inconsistent.

    Examples
    --------
    >>> rs = load_ruleset()
    >>> rs.display_names[:2]
    ('No Finding', 'Enlarged Cardiomediastinum')
    """
    root = Path(path) if path is not None else default_rules_path()
    if not root.is_dir():
        raise RuleError(f"rules directory not found: {root}")
    manifest_path = root / "manifest.yaml"
    if not manifest_path.is_file():
        raise RuleError("manifest.yaml is missing", file=str(root))
    manifest = _validate(Manifest, _read_yaml(manifest_path, root), manifest_path, root)

    sections_path = root / "sections.yaml"
    aggregation_path = root / "aggregation.yaml"
    for required in (sections_path, aggregation_path):
        if not required.is_file():
            raise RuleError(f"{required.name} is missing", file=str(root))
    sections = _validate(SectionsFile, _read_yaml(sections_path, root), sections_path, root)
    aggregation = _validate(AggregationFile, _read_yaml(aggregation_path, root), aggregation_path, root)

    findings: dict[str, FindingFile] = {}
    for fpath in sorted((root / "findings").glob("*.yaml")):
        ff = _validate(FindingFile, _read_yaml(fpath, root), fpath, root)
        if ff.observation != fpath.stem:
            raise RuleError(f"observation {ff.observation!r} must match the file name", file=str(fpath.relative_to(root)))
        findings[ff.observation] = ff

    modifiers: dict[str, ModifierFile] = {}
    for mpath in sorted((root / "assertion").glob("*.yaml")):
        mf = _validate(ModifierFile, _read_yaml(mpath, root), mpath, root)
        modifiers[mpath.stem] = mf

    ruleset = Ruleset(
        path=str(root),
        manifest=manifest,
        sections=sections,
        aggregation=aggregation,
        findings=findings,
        modifiers=modifiers,
        sha256=_hash_files(root),
    )
    _check_consistency(ruleset)
    return ruleset


def _check_consistency(rs: Ruleset) -> None:
    """Cross-file checks: ids unique, observations known, exported set complete."""
    derived = {d.observation for d in rs.aggregation.derived}
    known = set(rs.findings) | derived
    for obs in rs.manifest.observations:
        if obs not in known:
            raise RuleError(f"manifest lists observation {obs!r} with no findings file and no derived rule",
                            file="manifest.yaml")
    if len(set(rs.manifest.observations)) != len(rs.manifest.observations):
        raise RuleError("manifest lists an observation twice", file="manifest.yaml")
    for obs, ff in rs.findings.items():
        if ff.export and obs not in rs.manifest.observations:
            raise RuleError(f"observation {obs!r} is exported but not listed in manifest.observations "
                            "(list it, or set export: false)", file=f"findings/{obs}.yaml")
        if not ff.export and obs in rs.manifest.observations:
            raise RuleError(f"observation {obs!r} has export: false but is listed in the manifest",
                            file=f"findings/{obs}.yaml")
    seen: dict[str, str] = {}

    def claim(rule_id: str, where: str) -> None:
        if rule_id in seen:
            raise RuleError(f"rule id used twice (also in {seen[rule_id]})", file=where, rule_id=rule_id)
        seen[rule_id] = where

    for obs, ff in rs.findings.items():
        for rule in (*ff.mentions, *ff.exclusions):
            claim(rule.id, f"findings/{obs}.yaml")
    for name, mf in rs.modifiers.items():
        for mrule in mf.rules:
            claim(mrule.id, f"assertion/{name}.yaml")
            # references to observations this label set lacks are allowed (assertion rules are shared
            # between label sets); `labeler rules lint` lists them
    for d in rs.aggregation.derived:
        claim(d.id, "aggregation.yaml")
        for ref in d.ignore:
            if ref not in known:
                raise RuleError(f"unknown observation {ref!r}", file="aggregation.yaml", rule_id=d.id)
    for imp in rs.aggregation.implications:
        claim(imp.id, "aggregation.yaml")
        for ref in (imp.if_observation, imp.then_observation):
            if ref not in known:
                raise RuleError(f"unknown observation {ref!r}", file="aggregation.yaml", rule_id=imp.id)
    categories = {mf.category for mf in rs.modifiers.values()} - {"pseudo", "terminate"}
    for cat in categories:
        if cat not in rs.aggregation.modifier_effects:
            raise RuleError(f"modifier category {cat!r} has no entry in modifier_effects", file="aggregation.yaml")
        if cat not in rs.aggregation.modifier_priority:
            raise RuleError(f"modifier category {cat!r} is missing from modifier_priority", file="aggregation.yaml")
    section_names = {s.name for s in rs.sections.sections} | {rs.sections.preamble, rs.sections.headerless}
    for name in rs.manifest.label_sections:
        if name not in section_names:
            raise RuleError(f"label_sections names unknown section {name!r}", file="manifest.yaml")


def ruleset_json_schema() -> dict[str, object]:
    """JSON Schema of every rule file type, keyed by file role (for editors and reviewers)."""
    return {
        "manifest.yaml": Manifest.model_json_schema(),
        "sections.yaml": SectionsFile.model_json_schema(),
        "aggregation.yaml": AggregationFile.model_json_schema(),
        "findings/<observation>.yaml": FindingFile.model_json_schema(),
        "assertion/<category>.yaml": ModifierFile.model_json_schema(),
    }


def lint_ruleset(rs: Ruleset) -> list[str]:
    """Problems that load but are probably mistakes: duplicate phrases, empty exclusions, unused
    files. Returns human-readable lines (empty: clean)."""
    from ._text import normalize_phrase

    problems: list[str] = []
    for obs, ff in rs.findings.items():
        owner: dict[str, str] = {}
        for rule in (*ff.mentions, *ff.exclusions):
            for phrase in rule.phrases:
                key = normalize_phrase(phrase)
                if key in owner and owner[key] != rule.id:
                    problems.append(f"findings/{obs}.yaml: phrase {phrase!r} in {rule.id} duplicates {owner[key]}")
                elif key in owner:
                    problems.append(f"findings/{obs}.yaml: phrase {phrase!r} listed twice in {rule.id}")
                owner[key] = rule.id
            for pat in rule.patterns:
                if "\\b" not in pat and "(?<!" not in pat and "(?!" not in pat:
                    problems.append(f"findings/{obs}.yaml: pattern in {rule.id} has no word boundary (\\b)")
        if not ff.examples:
            problems.append(f"findings/{obs}.yaml: no examples")
    known = set(rs.all_observations)
    for name, mf in rs.modifiers.items():
        for mrule in mf.rules:
            for ref in (mrule.allowed_observations or []) + (mrule.excluded_observations or []):
                if ref not in known:
                    problems.append(f"assertion/{name}.yaml: {mrule.id} refers to observation {ref!r}, "
                                    "which this ruleset does not define (the restriction never applies)")
        owner = {}
        for mrule in mf.rules:
            for phrase in mrule.phrases:
                key = normalize_phrase(phrase)
                if key in owner:
                    problems.append(f"assertion/{name}.yaml: phrase {phrase!r} in {mrule.id} duplicates {owner[key]}")
                owner[key] = mrule.id
    return problems
