"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``.

``nox`` with no arguments runs tests, lint and typecheck: what CI runs.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = None  # the interpreter nox itself runs on (>= 3.11), in a fresh virtualenv


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, integration with real git, TUI pilot)."""
    session.install("-e", ".[test]")
    # Only exit code 0 passes: pytest's 5 ("no tests collected") fails the session on
    # purpose, so a broken test layout can never look green.
    session.run("pytest", *session.posargs, success_codes=[0])


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: style, imports, and the rule that the core never imports textual or rich."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "ticketflow", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", "mypy>=1.10", "types-PyYAML")
    session.run("mypy", "--strict", "ticketflow")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: print JSON figures (record them in docs/benchmarks.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/bench_cli.py", *session.posargs)
