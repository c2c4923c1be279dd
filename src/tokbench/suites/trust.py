"""A suite file is something people download and share: what it may run is the user's call.

Built-in suites run freely. A suite file that grades with Python code, or asks an LLM
judge (and would send it an API key), runs only when the user allowed exactly that."""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.core.redact import redact_url
from tokbench.errors import TokbenchError
from tokbench.suites.loader import Suite


@dataclass(frozen=True, slots=True)
class Trust:
    allow_code: bool = False  # --allow-code: Python graders named by the suite may run
    allow_judge: tuple[str, ...] = ()  # --allow-judge URL: judges the suite may ask


def check_trust(suite: Suite, trust: Trust) -> None:
    """Raise, saying what would run and where a key would go, unless the user allowed it."""
    if suite.builtin:  # shipped in the package; the name proves nothing (it may be a file's)
        return
    code, judges = [], []
    for item in suite.items:
        spec = item.grade_spec
        if spec is None:
            continue
        if spec.score == "python" and not trust.allow_code:
            code.append(f"{spec.function} (item {item.id})")
        judge = spec.judge
        if spec.score == "judge" and judge is not None and judge.url not in trust.allow_judge:
            key = f", sending the key in ${judge.api_key_env}" if judge.api_key_env else ""
            judges.append(f"{redact_url(judge.url)}{key} (item {item.id})")
    problems = []
    if code:
        problems.append(
            f"it grades with Python code: {'; '.join(code)}; allow it with --allow-code"
        )
    if judges:
        problems.append(
            f"it asks an LLM judge at {'; '.join(judges)}; allow each with --allow-judge URL"
        )
    if problems:
        raise TokbenchError(f"suite {suite.source} was not run: " + " and ".join(problems))
