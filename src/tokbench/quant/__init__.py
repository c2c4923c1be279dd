"""Quant quality: teacher-forced perplexity, KL divergence and top-token agreement of a
GGUF model against a reference, on the embedded llama.cpp engine (issue 14).

- `text`: the built-in bilingual evaluation text, or any text file.
- `score`: decode fixed windows and turn each batch of full-vocabulary logits into small
  per-position records (next-token log-prob, top-k, rest mass, KLD against a reference).
- `reference`: the compact top-k reference file and its key.
- `kld`: pure metrics over those records (perplexity, KLD statistics, same-top, delta-p).
- `evaluate`: the entry points `evaluate()` and `build_reference()`.
- `speed`: file size, bytes read per token, the bound here and measured decode tok/s.
- `view`: the records a comparison is shown from (renderers import only these).
- `compare`: `tokbench quant` in one call: reference, candidates, speed, stored run.
- `http`: why a server cannot be measured (prompt-token log-probabilities).
"""
