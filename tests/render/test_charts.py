"""Chart labels never print over each other."""

from __future__ import annotations

from tokbench.render.charts import LABEL_CHAR_W, LABEL_H, place_labels


def _box(spot: tuple[float, float, str], label: str) -> tuple[float, float, float, float]:
    x, y, anchor = spot
    w = LABEL_CHAR_W * len(label)
    x0 = x if anchor == "start" else x - w
    return (x0, y - LABEL_H + 2, x0 + w, y + 2)


def test_nearby_points_get_labels_that_do_not_overlap() -> None:
    anchors = [(300.0 + i, 200.0 + (i % 3)) for i in range(12)]  # a tight cluster
    labels = [f"model-{i} · embedded · {i:06d}" for i in range(12)]
    spots = place_labels(anchors, labels, (60, 30, 720, 400))
    boxes = [_box(s, lab) for s, lab in zip(spots, labels, strict=True) if s is not None]
    assert len(boxes) >= 6  # most get a label; the rest keep their tooltip only
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
        assert a[0] >= 0 and a[2] <= 720 and a[3] <= 400


def test_a_lone_point_is_labelled_beside_it() -> None:
    (spot,) = place_labels([(100.0, 100.0)], ["one"], (60, 30, 720, 400))
    assert spot == (108.0, 94.0, "start")
