"""Build the shipped benchmark subsets from the upstream files (run once, by hand).

    python bench/eval_subsets.py GSM8K_DATA_FOLDER [MMLU_FOLDER]

GSM8K_DATA_FOLDER is `grade_school_math/data` of github.com/openai/grade-school-math (MIT).
MMLU_FOLDER holds the MMLU test split (MIT), one CSV per subject in any layout
tokbench.evals.formats reads; mmlu.jsonl gets the first MMLU_SUBSET items of its order.
Writes src/tokbench/evals/data/gsm8k.jsonl: the first SUBSET items of the test set in the
prefix-fair order (tokbench.evals.items, seed 23), each line the upstream object plus its
0-based `row` in test.jsonl and its stratum; and gsm8k_shots.jsonl: the first SHOTS
problems of the train set in the same order, the calculator marks <<...>> removed, as
few-shot examples.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tokbench.evals.formats import gsm8k_steps, read_path
from tokbench.evals.items import EvalItem, prefix_fair_order

SUBSET = 100
SHOTS = 8
MMLU_SUBSET = 200  # 57 subjects: room for --limit 200 to reach most of them
OUT = Path(__file__).resolve().parents[1] / "src" / "tokbench" / "evals" / "data"


def _ordered(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
    items = [
        EvalItem(
            f"gsm8k/{gsm8k_steps(r['answer'])}/{i}",
            "gsm8k",
            gsm8k_steps(r["answer"]),
            r["question"],
            (),
            "",
        )
        for i, r in enumerate(rows)
    ]
    out = []
    for it in prefix_fair_order(items):
        row = int(it.id.rsplit("/", 1)[1])
        out.append({"row": row, "subject": it.subject, **rows[row]})
    return out


def mmlu(folder: Path) -> None:
    items = prefix_fair_order(read_path(folder, "mmlu"))
    lines = [
        json.dumps(
            {
                "row": int(it.id.rsplit("/", 1)[1]),
                "subject": it.subject,
                "question": it.question,
                "choices": list(it.choices),
                "answer": it.answer,
            },
            ensure_ascii=False,
        )
        for it in items[:MMLU_SUBSET]
    ]
    (OUT / "mmlu.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {len(lines)} of {len(items)} MMLU items to {OUT}")


def main(folder: Path) -> None:
    test = _ordered(folder / "test.jsonl")[:SUBSET]
    lines = [json.dumps(r, ensure_ascii=False) for r in test]
    (OUT / "gsm8k.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    shots = []
    for r in _ordered(folder / "train.jsonl")[:SHOTS]:
        answer = re.sub(r"<<[^>]*>>", "", str(r["answer"]))
        shots.append(json.dumps({"question": r["question"], "answer": answer}, ensure_ascii=False))
    (OUT / "gsm8k_shots.jsonl").write_text("\n".join(shots) + "\n", "utf-8")
    print(f"wrote {len(test)} items and {len(shots)} shots to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    if len(sys.argv) > 2:
        mmlu(Path(sys.argv[2]))
