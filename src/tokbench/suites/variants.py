"""`seed5-variants`: the seed questions with other numbers, days and option orders, so a
model cannot pass by remembering the famous originals. Deterministic: the same list
every time, graded by pipelines with each variant's own answer."""

from __future__ import annotations

from typing import Any

_ZH_DAYS = "一二三四五六日"
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PAIRS = (
    ("7.18", "7.8"),
    ("3.45", "3.5"),
    ("12.09", "12.1"),
    ("0.56", "0.6"),
    ("5.125", "5.13"),
    ("8.7", "8.65"),
)
_STATEMENTS = (  # (text, is_wrong)
    ("在自然环境下，声音在固体中传播速度最快。", False),
    ("牛顿第一定律:一个物体如果不受力作用，将保持静止或匀速直线运动的状态。", False),
    ("牛顿第三定律:对于每个作用力，都有一个相等而反向的反作用力。", False),
    ("声音在空气中的传播速度为 1000m/s。", True),
)


def seed5_variants() -> dict[str, Any]:
    """The suite as the same dict a TOML file would give."""
    items: list[dict[str, Any]] = []
    for a, b in _PAIRS:
        larger = a if float(a) > float(b) else b
        items.append(
            {
                "id": f"compare-{a}-{b}",
                "prompt": f"比较以下两个数的大小：{a} 和 {b}，并解释比较逻辑。",
                "grade": {
                    "extract": "larger_of",
                    "numbers": [a, b],
                    "score": "exact",
                    "expected": larger,
                },
            }
        )
    for day in (1, 2, 4, 5, 6, 7):  # the forecast's day; today is the day after
        today = _EN_DAYS[day % 7]
        items.append(
            {
                "id": f"weekday-{_EN_DAYS[day - 1].lower()}",
                "prompt": f"天气预报说本周星期{_ZH_DAYS[day - 1]}会下雨，"
                "昨天果然下雨了，今天星期几?",
                "grade": {"extract": "weekday", "score": "exact", "expected": today},
            }
        )
    for wrong_at in range(3):  # the wrong statement at A, B, C (the original has it at D)
        order = [s for s in _STATEMENTS if not s[1]]
        order.insert(wrong_at, _STATEMENTS[3])
        options = "".join(f"{'ABCD'[k]}.{text}" for k, (text, _) in enumerate(order))
        items.append(
            {
                "id": f"physics-wrong-{'ABC'[wrong_at]}",
                "prompt": f"以下物理常识题目，哪一个是错误的?{options}",
                "grade": {
                    "extract": "choice_letter",
                    "score": "exact",
                    "expected": "ABC"[wrong_at],
                },
            }
        )
    return {
        "name": "seed5-variants",
        "max_tokens": 1024,
        "description": "seed5's logic questions with other numbers, days and orders",
        "items": items,
    }
