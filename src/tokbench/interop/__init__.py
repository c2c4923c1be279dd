"""Speak other benchmark tools' formats: import llama-bench, vLLM and GuideLLM results, and
export bench results in llama-bench's shapes.

Every parser is a pure function from text to an ImportedRun; `parse_file` detects the format.
"""
