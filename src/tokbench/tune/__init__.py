"""`tokbench tune`: find the fastest llama.cpp settings for this box and model.

inputs    HostFacts / ModelFacts: what the tuner knows about the box and the model
space     Knob, Candidate, search_space(): the knobs and the values worth measuring
flags     a candidate as llama-server arguments or llama-cpp-python Llama(...) kwargs
predict   the bandwidth bound per candidate, used to order the search (never to skip)
verdict   the log-ratio rule that decides each comparison (duels, pick, sensitivity)
search    the coordinate search: CI stop rules, the pick settled, the start re-measured
processes llama-server and its --help in process groups of their own, ended as groups
report    ranking against the pick, sensitivity where intervals separate, drift
commands  the winner as a llama-server line, `tokbench run` flags, Ollama lines
"""
