"""`tokbench tune`: find the fastest llama.cpp settings for this box and model.

facts     HostFacts / ModelFacts: what the tuner knows about the box and the model
space     Knob, Candidate, search_space(): the knobs and the values worth measuring
flags     a candidate as llama-server arguments or llama-cpp-python Llama(...) kwargs
predict   the bandwidth bound per candidate, used to order the search (never to skip)
tstats    t quantiles and the log-ratio test that decides each comparison
search    the coordinate search: CI stop rules, resumable, failure-tolerant
report    ranking and sensitivity (threads, per-knob effect)
commands  the winner as a llama-server line, `tokbench run` flags, Ollama lines
"""
