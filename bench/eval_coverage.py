"""Print the coverage table of the eval estimator (tokbench.evals.estimate).

    python bench/eval_coverage.py [TRIALS]

For each benchmark shape and prefix size: how often the 95 % interval held the simulated
model's full-set accuracy, its mean half-width and the estimate's mean error (points)."""

from __future__ import annotations

import sys

from tokbench.evals.estimate import GSM8K_STRATA, MMLU_LIKE_STRATA, coverage, until_ci_coverage


def main(trials: int) -> None:
    print("| set | items | trials | coverage | mean ± (pts) | mean error (pts) |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape, strata, guess in (
        ("GSM8K (5 strata, 1,319, no guessing)", GSM8K_STRATA, 0.0),
        (
            f"MMLU-like (57 subjects, {sum(MMLU_LIKE_STRATA):,}, 1 in 4 guess)",
            MMLU_LIKE_STRATA,
            0.25,
        ),
    ):
        for r in coverage(shape, strata, trials=trials, guess=guess, seed=1):
            print(
                f"| {shape} | {r.n} | {r.trials} | {100 * r.coverage:.1f} % | "
                f"{r.mean_half_width_pts:.1f} | {r.mean_abs_error_pts:.1f} |"
            )
        for target in (10.0, 7.0):
            r = until_ci_coverage(strata, target, trials=trials, guess=guess, seed=1)
            print(
                f"| {shape}, {r.shape} | {r.n} (mean) | {r.trials} | "
                f"{100 * r.coverage:.1f} % | {r.mean_half_width_pts:.1f} | "
                f"{r.mean_abs_error_pts:.1f} |"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
