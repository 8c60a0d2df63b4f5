"""Interactions, IdMap, the MovieLens readers and the synthetic generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.engine.data import (
    IdMap,
    Interactions,
    MovieLensError,
    detect_format,
    load_movielens,
    synthetic_ml1m_shape,
    synthetic_planted,
)

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"
ROWS = [(10, 300, 5), (10, 200, 7), (42, 300, 1), (7, 100, 3)]  # user, item, timestamp


def test_idmap_maps_raw_ids_to_dense_indices_and_back() -> None:
    ids = IdMap([30, 10, 20])
    assert len(ids) == 3
    assert ids.index([10, 20, 30]).tolist() == [0, 1, 2]
    assert ids.raw([2, 0]).tolist() == [30, 10]
    assert ids.index_of(20) == 1
    assert ids.raw_of(1) == 20


def test_idmap_gives_minus_one_for_unknown_ids() -> None:
    ids = IdMap([5, 9])
    assert ids.index([1, 5, 7, 9, 100]).tolist() == [-1, 0, -1, 1, -1]
    assert 7 not in ids
    assert 9 in ids
    assert IdMap([]).index_of(3) == -1


def test_idmap_rejects_duplicates_and_out_of_range_indices() -> None:
    with pytest.raises(ValueError, match="distinct"):
        IdMap([1, 1])
    with pytest.raises(IndexError):
        IdMap([1, 2]).raw([2])


def _ml_files(root: Path) -> dict[str, Path]:
    csv_dir = root / "csv"
    csv_dir.mkdir()
    (csv_dir / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},4.0,{t}\n" for u, i, t in ROWS)
    )
    dat_dir = root / "dat"
    dat_dir.mkdir()
    (dat_dir / "ratings.dat").write_bytes(
        "".join(f"{u}::{i}::4::{t}\n" for u, i, t in ROWS).encode("latin-1")
    )
    tab_dir = root / "tab"
    tab_dir.mkdir()
    (tab_dir / "u.data").write_text("".join(f"{u}\t{i}\t4\t{t}\n" for u, i, t in ROWS))
    return {"ml-latest-small": csv_dir, "ml-1m": dat_dir, "ml-100k": tab_dir}


def test_every_layout_loads_to_the_same_interactions(tmp_path: Path) -> None:
    dirs = _ml_files(tmp_path)
    loaded = {fmt: load_movielens(path, fmt) for fmt, path in dirs.items()}
    auto = {fmt: load_movielens(path, "auto") for fmt, path in dirs.items()}
    fingerprints = {d.fingerprint() for d in [*loaded.values(), *auto.values()]}
    assert len(fingerprints) == 1
    data = loaded["ml-1m"]
    assert (data.n_users, data.n_items, len(data)) == (3, 3, 4)
    assert data.users.ids.tolist() == [7, 10, 42]
    assert {fmt: detect_format(p) for fmt, p in dirs.items()} == {k: k for k in dirs}


def test_ratings_file_path_is_accepted(tmp_path: Path) -> None:
    dirs = _ml_files(tmp_path)
    assert len(load_movielens(dirs["ml-1m"] / "ratings.dat")) == len(ROWS)


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown MovieLens format"):
        load_movielens(tmp_path, "ml-3m")
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path)


def test_from_arrays_sorts_by_user_then_time_and_keeps_the_latest_repeat() -> None:
    data = Interactions.from_arrays([2, 1, 1, 1], [5, 6, 5, 6], [9, 3, 4, 8])
    assert data.user_idx.tolist() == [0, 0, 1]
    # user 1's repeat of item 6 keeps timestamp 8, so item 5 (time 4) comes first
    assert data.items.raw(data.item_idx).tolist() == [5, 6, 5]
    assert data.timestamps.tolist() == [4, 8, 9]


def _reference_interactions(users, items, timestamps):
    """from_arrays in plain Python: the latest timestamp of each pair (the last row of equal
    ones), ordered by user, timestamp, item; with the input row each pair came from."""
    latest: dict[tuple[int, int], tuple[int, int]] = {}
    columns = zip(users.tolist(), items.tolist(), timestamps.tolist(), strict=True)
    for row, (u, i, t) in enumerate(columns):
        if (u, i) not in latest or t >= latest[(u, i)][0]:
            latest[(u, i)] = (t, row)
    ordered = sorted((u, t, i, row) for (u, i), (t, row) in latest.items())
    return [(u, i, t) for u, t, i, _ in ordered], [row for *_, row in ordered]


@pytest.mark.parametrize(
    ("id_scale", "time_scale"),
    [
        (1, 1),  # small ids through the lookup table, times packed as they are
        (10**12, 1),  # ids too sparse for a table: np.unique
        (1, 10**15),  # times spanning too many seconds to pack: their dense rank
    ],
)
def test_from_arrays_matches_a_plain_python_reading(id_scale: int, time_scale: int) -> None:
    rng = np.random.default_rng(id_scale % 97 + time_scale % 89)
    n = 2000
    users = rng.integers(1, 40, n) * id_scale
    items = rng.integers(1, 60, n) * id_scale  # 2,400 pairs for 2,000 rows: many repeats
    timestamps = rng.integers(-5, 20, n) * time_scale  # many ties, some before 1970
    data, rows = Interactions.from_arrays_with_rows(users, items, timestamps)
    expected, expected_rows = _reference_interactions(users, items, timestamps)
    got = zip(
        data.users.raw(data.user_idx).tolist(),
        data.items.raw(data.item_idx).tolist(),
        data.timestamps.tolist(),
        strict=True,
    )
    assert list(got) == expected
    assert rows.tolist() == expected_rows
    plain = Interactions.from_arrays(users, items, timestamps)
    for column in ("user_idx", "item_idx", "timestamps"):
        assert np.array_equal(getattr(plain, column), getattr(data, column))


def test_idmap_encode_gives_the_map_and_each_values_index() -> None:
    for raw in (np.array([5, 3, 5, 9, 3]), np.array([5, -3, 5, 10**15])):
        ids, index = IdMap.encode(raw)
        assert ids.ids.tolist() == sorted(set(raw.tolist()))
        assert np.array_equal(ids.raw(index), raw)
        assert np.array_equal(index, ids.index(raw))


def test_fingerprint_ignores_row_order_but_sees_changes() -> None:
    u, i, t = (np.array(c) for c in zip(*ROWS, strict=True))
    order = np.array([3, 1, 0, 2])
    base = Interactions.from_arrays(u, i, t).fingerprint()
    assert Interactions.from_arrays(u[order], i[order], t[order]).fingerprint() == base
    assert Interactions.from_arrays(u, i, t + 1).fingerprint() != base


@pytest.mark.skipif(not BUNDLED.is_dir(), reason="bundled MovieLens data missing")
def test_bundled_latest_small_has_its_documented_size() -> None:
    data = load_movielens(BUNDLED, "ml-latest-small")
    assert (data.n_users, len(data)) == (610, 100_836)
    assert data.n_items == len(np.unique(data.item_idx))


def test_synthetic_ml1m_shape_matches_the_requested_size() -> None:
    data = synthetic_ml1m_shape(n_users=300, n_items=400, n_interactions=20_000, seed=3)
    assert (data.n_users, len(data)) == (300, 20_000)
    assert data.n_items <= 400
    per_user = np.bincount(data.user_idx)
    assert per_user.min() >= 20
    popularity = np.sort(np.bincount(data.item_idx))[::-1]
    # power law: the top 10% of items draw far more than their share
    assert popularity[: len(popularity) // 10].sum() > 0.25 * len(data)
    again = synthetic_ml1m_shape(n_users=300, n_items=400, n_interactions=20_000, seed=3)
    assert again.fingerprint() == data.fingerprint()


def test_synthetic_planted_users_mostly_pick_one_cluster() -> None:
    data = synthetic_planted(n_users=100, n_items=50, n_clusters=5, per_user=10, seed=1)
    assert len(data) == 1000
    clusters = (data.items.raw(data.item_idx) - 1) % 5
    top_share = [
        np.bincount(clusters[data.user_idx == u], minlength=5).max() / 10 for u in range(100)
    ]
    assert np.mean(top_share) > 0.7


def test_a_file_in_another_format_is_one_line_naming_file_and_format(tmp_path: Path) -> None:
    dirs = _ml_files(tmp_path)
    ratings = dirs["ml-1m"] / "ratings.dat"
    with pytest.raises(MovieLensError, match=r"ratings.dat does not parse as ml-100k") as info:
        load_movielens(ratings, "ml-100k")
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"no u.data in .* \(format ml-100k\)"):
        load_movielens(dirs["ml-1m"], "ml-100k")


def test_liked_only_drops_low_ratings_and_can_keep_the_id_maps() -> None:
    from recommender.engine.data import liked_only

    data = Interactions.from_arrays([1, 1, 2, 2, 3], [10, 20, 10, 30, 20], [1, 2, 3, 4, 5])
    ratings = np.array([5.0, 1.0, 4.0, 2.5, 1.5])  # rows are sorted by user, then time
    kept = liked_only(data, ratings, 3.0, reindex=False)
    assert (kept.users, kept.items) == (data.users, data.items)
    pairs = set(zip(kept.users.raw(kept.user_idx), kept.items.raw(kept.item_idx), strict=True))
    assert pairs == {(1, 10), (2, 10)}
    fresh = liked_only(data, ratings, 3.0)
    assert list(fresh.users.ids) == [1, 2]
    assert list(fresh.items.ids) == [10]
    with pytest.raises(ValueError, match="ratings has shape"):
        liked_only(data, ratings[:2], 3.0)


def test_load_movielens_min_rating_keeps_only_liked_ratings(tmp_path) -> None:
    from recommender.engine.data import load_movielens

    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,5.0,1\n1,20,2.0,2\n2,20,3.5,3\n"
    )
    assert len(load_movielens(tmp_path)) == 3
    liked = load_movielens(tmp_path, min_rating=3.5)
    assert len(liked) == 2
    assert list(liked.items.ids) == [10, 20]
