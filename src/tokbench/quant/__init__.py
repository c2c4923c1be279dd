"""Quant quality: teacher-forced perplexity, KL divergence and top-token agreement of a
GGUF model against a reference, on the embedded llama.cpp engine (issue 14).

- `text`: the built-in bilingual evaluation text, or any text file.
- `score`: decode fixed windows and turn each batch of full-vocabulary logits into small
  per-position records (next-token log-prob, kept tokens, uncovered mass, KLD bounds).
- `reference`: the compact reference file (tokens up to a probability mass), its key,
  and the checks a foreign file passes before it is used.
- `kld`: pure metrics over those records (perplexity, KLD and its bounds, same-top,
  delta-p).
- `evaluate`: the entry points `evaluate()` and `build_reference()`.
- `speed`: file size, bytes read per token, the bound here and decode tok/s (measured
  by the comparison, or found in the store).
- `view`: the records a comparison is shown from (renderers import only these).
- `compare`: `tokbench quant` in one call: reference, candidates, speed, stored run.
- `rows`: a candidate's result as its stored row.
- `http`: why a server cannot be measured (prompt-token log-probabilities).
"""
