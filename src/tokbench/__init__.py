"""tokbench: what your local LLM box really delivers.

Imports stay light here so that ``tokbench --help`` is instant; heavy modules
(llama.cpp, httpx, rich) load only inside the functions that need them.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
