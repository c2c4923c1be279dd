"""Standard benchmarks (GSM8K, MMLU, CMMLU, C-Eval) in a time box: their file formats, fixed
prefix-fair subsets, generative grading, and an estimate of the full-set accuracy."""
