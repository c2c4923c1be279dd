"""Grading answers: deterministic graders, pipelines, an LLM judge, and the registry."""
