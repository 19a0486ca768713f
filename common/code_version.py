"""The version of a component's user code: a content hash of exactly the modules it runs.

The pipeline passes it in ``custom_config``, so editing code a component runs re-runs that
component instead of reusing a cached artifact built by older code, and editing anything
else (the command line, the serving client, another component's code) does not.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "components", "transforms", "trainer", "evaluator", "serving", "pipeline")


def _path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = REPO_ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if _path(name) is not None}


def module_closure(module: str) -> list[Path]:
    """The source files of ``module`` and of every project module it imports, transitively."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _path(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(_imports(path))
    return sorted(set(seen.values()))


def code_version(function_path: str) -> str:
    """A short content hash of the code behind ``package.module.function``.

    Args:
        function_path: the import path TFX is given, e.g. ``trainer.task.run_fn``.

    Returns:
        16 hex digits.
    """
    digest = hashlib.sha256()
    for path in module_closure(function_path.rpartition(".")[0]):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
