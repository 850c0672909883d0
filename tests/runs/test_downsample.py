"""Server-side downsampling: at most N points, every extreme kept; bucket envelopes for
bands."""

from __future__ import annotations

import math
import random

import pytest

from modelbay.services.runs import downsample, envelope


def series(n: int, seed: int = 1) -> list[tuple[int, float | None, float]]:
    rng = random.Random(seed)
    return [(i, rng.gauss(0, 1), 1000.0 + i * 0.5) for i in range(n)]


@pytest.mark.parametrize("max_points", [2, 3, 10, 999, 1000])
def test_at_most_max_points_and_global_extremes_kept(max_points):
    points = series(100_000)
    out = downsample(points, max_points)
    assert len(out) <= max_points
    values = [p[1] for p in out]
    assert min(values) == min(p[1] for p in points)
    assert max(values) == max(p[1] for p in points)
    assert all(p in points for p in out[:50])
    assert [p[0] for p in out] == sorted(p[0] for p in out)


def test_every_spike_survives_when_there_are_fewer_spikes_than_buckets():
    points = series(10_000)
    spikes = {137: 50.0, 4000: -80.0, 9999: math.inf, 0: -math.inf}
    points = [(s, spikes.get(s, v), t) for s, v, t in points]
    out = downsample(points, 100)
    assert {p[0]: p[1] for p in out if p[0] in spikes} == spikes


def test_nan_stays_visible():
    points = series(10_000)
    points[5000] = (5000, None, points[5000][2])
    points[5001] = (5001, 99.0, points[5001][2])
    out = downsample(points, 30)
    assert len(out) <= 30
    assert (5000, None, points[5000][2]) in out and (5001, 99.0, points[5001][2]) in out
    only_nan = [(i, None, float(i)) for i in range(1000)]
    assert 1 <= len(downsample(only_nan, 10)) <= 10


def test_by_time_buckets_follow_the_clock():
    # 900 points in the first second, 100 spread over the next 99 seconds
    points = [(i, float(i % 7), 0.001 * i) for i in range(900)]
    points += [(900 + i, float(i), 1.0 + i) for i in range(100)]
    out = downsample(points, 40, "time")
    assert len(out) <= 40
    times = [p[2] for p in out]
    assert times == sorted(times)
    assert sum(1 for t in times if t < 1.0) <= 2  # the crowded second is one bucket
    by_step = downsample(points, 40, "step")
    assert sum(1 for p in by_step if p[2] < 1.0) > 20


def test_short_series_and_flat_series():
    points = series(50)
    assert downsample(points, 50) is points
    flat = [(i, 1.0, 0.0) for i in range(1000)]
    out = downsample(flat, 10, "time")  # all at one time: one bucket
    assert 1 <= len(out) <= 2


def test_envelope_is_one_row_per_bucket_with_mean_and_extremes():
    points = [(i, float(i % 10), 100.0 + i) for i in range(1000)]
    points[437] = (437, 500.0, 537.0)  # a spike the mean smooths over
    rows = envelope(points, 100)
    assert len(rows) == 100
    step, mean, at, low, high = rows[43]  # steps 430..439
    assert (step, at) == (434.5, 534.5)
    assert (low, high) == (0.0, 500.0)
    assert mean == pytest.approx((45 - 7 + 500) / 10)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert all(r[3] <= r[1] <= r[4] for r in rows)


def test_envelope_leaves_nan_and_infinity_out_of_its_numbers():
    points = [(i, 1.0, float(i)) for i in range(20)]
    points[3] = (3, None, 3.0)
    points[4] = (4, math.inf, 4.0)
    points[10] = (10, None, 10.0)
    points[11] = (11, None, 11.0)
    rows = envelope(points, 10)
    assert rows[1] == (2.5, 1.0, 2.5, 1.0, 1.0)  # steps 2..3: the NaN is left out
    assert rows[2] == (4.5, 1.0, 4.5, 1.0, 1.0)  # steps 4..5: so is infinity
    assert rows[5] == (10.5, None, 10.5, None, None)  # nothing finite: a gap
    assert envelope([], 10) == []


def test_envelope_by_time_divides_the_clock():
    points = [(i, float(i), 0.0 if i < 90 else float(i)) for i in range(100)]
    rows = envelope(points, 10, "time")
    assert len(rows) == 2  # the crowded instant, and the ten seconds after it
    assert rows[0][0] == pytest.approx(44.5) and rows[0][4] == 89.0
    assert rows[1][3:] == (90.0, 99.0)
