"""tokbench: what your local LLM box really delivers, and what to do about it.

One subpackage per domain, imports pointing down: `core` (records, traces, metrics),
`net` (HTTP and stream readers), `gguf`, `hardware`, `store`, `backends` (one registry of
server kinds), `grade`, `suites`, `results`, `render`, `runs`, and `cli` on top.

Imports stay light here so that ``tokbench --help`` is instant; heavy modules
(llama.cpp, rich, Ray, psycopg) load only inside the functions that need them.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
