"""Answer text normalised before grading: markup, LaTeX wrappers, Traditional Chinese."""

from __future__ import annotations

import re
import unicodedata

# Traditional -> Simplified for the characters our patterns look at (no dependency).
_T2S = str.maketrans(
    {
        "週": "周",
        "禮": "礼",
        "錯": "错",
        "誤": "误",
        "確": "确",
        "說": "说",
        "為": "为",
        "個": "个",
        "這": "这",
        "較": "较",
        "數": "数",
        "點": "点",
        "於": "于",
        "們": "们",
        "選": "选",
        "項": "项",
        "聲": "声",
        "氣": "气",
        "傳": "传",
        "葉": "叶",
        "鴻": "鸿",
        "楓": "枫",
        "風": "风",
        "蕭": "萧",
        "涼": "凉",
        "歸": "归",
        "寒": "寒",
        "霜": "霜",
        "應": "应",
        "該": "该",
        "當": "当",
        "問": "问",
        "題": "题",
        "與": "与",
        "後": "后",
        "來": "来",
        "昨": "昨",
        "則": "则",
        "兩": "两",
        "對": "对",
        "無": "无",
        "處": "处",
        "獨": "独",
        "雙": "双",
        "鳥": "鸟",
        "飛": "飞",
        "殘": "残",
        "詩": "诗",
        "絕": "绝",
        "韻": "韵",
        "義": "义",
        "體": "体",
        "實": "实",
        "際": "际",
    }
)

_MD = re.compile(r"(\*\*|__|~~|`+|^#+\s*|^>\s*)", re.MULTILINE)
_BOXED = re.compile(r"\\boxed\s*\{\s*([^{}]*)\}")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}")


def normalize(text: str) -> str:
    """NFKC (full-width digits, letters and punctuation to ASCII), Traditional to
    Simplified for the characters we match, markdown and simple LaTeX stripped."""
    t = unicodedata.normalize("NFKC", text).translate(_T2S)
    t = _BOXED.sub(r"\1", t)
    t = _TEXT.sub(r"\1", t)
    t = t.replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    t = t.replace("$", "")
    return _MD.sub("", t)


# Graders and answer health look at a bounded window of an answer, so that their work is
# bounded however long the answer (a 50 MB answer is a broken model, not an essay). The
# seed graders take the *last* verdict an answer states, so they read its end; the form
# graders (essay length, verse) read its opening. 32k characters is 60 times the longest
# answer a seed question asks for.
WINDOW_CHARS = 32_768


def verdict_tail(text: str) -> str:
    """The end of an answer, where its last verdict sits (the whole of a short one)."""
    return text[-WINDOW_CHARS:]


def opening(text: str) -> str:
    """The start of an answer, where a poem or an essay is written (the whole of a short one)."""
    return text[:WINDOW_CHARS]
