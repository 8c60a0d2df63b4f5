"""Implicit-feedback interactions as dense indices, MovieLens readers and synthetic data sets."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from recommender.engine.sorting import PACKED_BITS, bit_width, dense_rank, lexsort, unique_sorted

MovieLensFormat = Literal[
    "auto",
    "ml-latest-small",
    "ml-latest",
    "ml-25m",
    "ml-20m",
    "ml-10m",
    "ml-32m",
    "ml-1m",
    "ml-100k",
]
CSV_FORMATS = ("ml-latest-small", "ml-latest", "ml-25m", "ml-20m", "ml-32m")
FORMATS: tuple[str, ...] = ("auto", *CSV_FORMATS, "ml-10m", "ml-1m", "ml-100k")

IntArray = NDArray[np.int64]

# IdMap.encode's lookup table covers ids below this many times the number of values.
_TABLE_IDS_PER_VALUE = 4


class IdMap:
    """Raw integer ids <-> dense indices 0..n-1, in ascending raw-id order (LensKit Vocabulary).

    Lookups never raise for an unknown id: they give -1, so a caller can route unknown users to
    the cold-start path.
    """

    __slots__ = ("_ids",)

    def __init__(self, ids: ArrayLike) -> None:
        raw = np.asarray(ids, dtype=np.int64).ravel()
        uniq = unique_sorted(raw)  # [n] sorted
        if uniq.shape[0] != raw.shape[0]:
            raise ValueError("IdMap ids must be distinct")
        self._ids = uniq
        self._ids.setflags(write=False)

    @classmethod
    def from_raw(cls, raw_ids: ArrayLike) -> IdMap:
        """The map over the distinct values of `raw_ids` (duplicates allowed)."""
        return cls(unique_sorted(np.asarray(raw_ids, dtype=np.int64)))

    @classmethod
    def encode(cls, raw_ids: ArrayLike) -> tuple[IdMap, IntArray]:
        """The map over the distinct values of `raw_ids` and the dense index of each: [n].

        Through a lookup table over 0..max id where the ids are non-negative and not much larger
        than their number (MovieLens: 32 M ratings of ids below 300,000), one pass where
        sorting and searching would sort and probe every value."""
        raw = np.asarray(raw_ids, dtype=np.int64).ravel()
        if raw.shape[0] and raw.min() >= 0 and raw.max() < _TABLE_IDS_PER_VALUE * raw.shape[0]:
            present = np.zeros(int(raw.max()) + 1, dtype=bool)  # [max id + 1]
            present[raw] = True
            dense = np.cumsum(present, dtype=np.int64) - 1  # [max id + 1] index of each id
            return cls(np.flatnonzero(present)), dense[raw]
        return cls(unique_sorted(raw)), dense_rank(raw)

    @property
    def ids(self) -> IntArray:
        """Raw ids by dense index: [n] (read-only)."""
        return self._ids

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __contains__(self, raw_id: object) -> bool:
        return isinstance(raw_id, int | np.integer) and self.index_of(int(raw_id)) >= 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self._ids, other._ids)

    def __hash__(self) -> int:
        return hash(self._ids.tobytes())

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)})"

    def index(self, raw_ids: ArrayLike) -> IntArray:
        """Dense indices of raw ids, -1 where unknown: same shape as `raw_ids`."""
        raw = np.asarray(raw_ids, dtype=np.int64)
        if self._ids.shape[0] == 0:
            return np.full(raw.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self._ids, raw)  # same shape as raw
        pos_clipped = np.minimum(pos, self._ids.shape[0] - 1)
        found = self._ids[pos_clipped] == raw
        return np.where(found, pos_clipped, -1).astype(np.int64)

    def index_of(self, raw_id: int) -> int:
        """Dense index of one raw id, or -1 when unknown."""
        return int(self.index(np.array([raw_id]))[0])

    def raw(self, indices: ArrayLike) -> IntArray:
        """Raw ids of dense indices; raises IndexError for an index out of range."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError("dense index out of range")
        return self._ids[idx]

    def raw_of(self, index: int) -> int:
        """Raw id of one dense index."""
        return int(self.raw(np.array([index]))[0])


@dataclass(frozen=True, eq=False)
class Interactions:
    """Every (user, item) pair seen once, as dense indices; every rating counts as a positive.

    user_idx, item_idx, timestamps: [n] int64, sorted by (user, timestamp, item).
    """

    user_idx: IntArray
    item_idx: IntArray
    timestamps: IntArray
    users: IdMap
    items: IdMap

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return int(self.user_idx.shape[0])

    @classmethod
    def from_arrays(
        cls,
        user_ids: ArrayLike,
        item_ids: ArrayLike,
        timestamps: ArrayLike | None = None,
    ) -> Interactions:
        """Build from raw ids ([n] each). A pair seen twice is kept once, with its latest
        timestamp: implicit feedback has no use for repeats and they would confuse the split.
        Missing timestamps become zeros (the split then orders a user's items by index)."""
        return cls.from_arrays_with_rows(user_ids, item_ids, timestamps)[0]

    @classmethod
    def from_arrays_with_rows(
        cls,
        user_ids: ArrayLike,
        item_ids: ArrayLike,
        timestamps: ArrayLike | None = None,
    ) -> tuple[Interactions, IntArray]:
        """from_arrays, and for each of its pairs the input row it was taken from: [len], so
        that a column beside the ids (the stars of a rating) can follow as `column[rows]`."""
        u_raw = np.asarray(user_ids, dtype=np.int64).ravel()
        i_raw = np.asarray(item_ids, dtype=np.int64).ravel()
        if timestamps is None:
            ts = np.zeros(u_raw.shape[0], dtype=np.int64)
        else:
            ts = np.asarray(timestamps, dtype=np.int64).ravel()
        if not (u_raw.shape == i_raw.shape == ts.shape):
            raise ValueError("user_ids, item_ids and timestamps must have one length")
        users, u = IdMap.encode(u_raw)
        items, i = IdMap.encode(i_raw)
        rows = _latest_of_each_pair(u, i, ts)  # [m] in (user, item) order
        rows = rows[_by_user_time_item(u[rows], i[rows], ts[rows], len(users))]
        u, i, ts = u[rows], i[rows], ts[rows]
        for arr in (u, i, ts):
            arr.setflags(write=False)
        interactions = cls(user_idx=u, item_idx=i, timestamps=ts, users=users, items=items)
        return interactions, rows

    def fingerprint(self) -> str:
        """sha256 over the raw (user, item, timestamp) triples in sorted order: equal data, equal
        fingerprint, whatever order the rows came in."""
        u = self.users.raw(self.user_idx)
        i = self.items.raw(self.item_idx)
        # Dense indices run in raw-id order, so the (user, item) order of either is the same;
        # the pairs are distinct (from_arrays), so the timestamp is not needed to break ties.
        order = lexsort((self.item_idx, self.user_idx))
        if _has_repeated_pair(self.user_idx[order], self.item_idx[order]):
            order = np.lexsort((self.timestamps, i, u))
        digest = hashlib.sha256()
        for arr in (u[order], i[order], self.timestamps[order]):
            digest.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        return digest.hexdigest()


def _has_repeated_pair(users: IntArray, items: IntArray) -> bool:
    """Whether two neighbouring rows of (user, item)-ordered arrays hold the same pair."""
    return bool(np.any((users[1:] == users[:-1]) & (items[1:] == items[:-1])))


def _latest_of_each_pair(users: IntArray, items: IntArray, timestamps: IntArray) -> IntArray:
    """The rows to keep, one per distinct (user, item) pair, in (user, item) order: [m]. Of a
    pair's repeats the one with the latest timestamp (the last such row where they tie)."""
    order = lexsort((items, users))  # [n] a pair's repeats together, in input order
    u, i = users[order], items[order]
    repeat = (u[1:] == u[:-1]) & (i[1:] == i[:-1])  # [n - 1] row k + 1 repeats row k
    if not repeat.any():
        return order
    first = np.ones(order.shape[0], dtype=bool)  # [n] the first row of each pair
    first[1:] = ~repeat
    pair = np.cumsum(first) - 1  # [n] the pair of each row
    repeated = np.zeros(order.shape[0], dtype=bool)  # [n] rows of pairs seen more than once
    repeated[1:] |= repeat
    repeated[:-1] |= repeat
    rows = np.flatnonzero(repeated)  # [r] few: sorted again on their own, by time
    by_time = rows[np.lexsort((timestamps[order[rows]], pair[rows]))]  # stable: ties in order
    latest = np.ones(by_time.shape[0], dtype=bool)  # [r] the last row of each repeated pair
    latest[:-1] = pair[by_time[1:]] != pair[by_time[:-1]]
    keep = first & ~repeated
    keep[by_time[latest]] = True
    return order[keep]


def _by_user_time_item(
    users: IntArray, items: IntArray, timestamps: IntArray, n_users: int
) -> IntArray:
    """The order by (user, timestamp, item) of distinct pairs given in (user, item) order: [n].

    Packed as user, timestamp and the row's place in its user's run (which is in item order)
    in one uint64, and sorted once: 18 + 30 + 16 bits at MovieLens-32M's shape (200,948 users,
    28 years of seconds, 33,000 ratings of one user). The timestamps' dense rank stands in for
    them where they span too many seconds, np.lexsort where even that does not fit."""
    counts = np.bincount(users, minlength=n_users)  # [n_users]
    starts = np.cumsum(counts) - counts  # [n_users] each user's first row
    place = np.arange(users.shape[0], dtype=np.int64) - starts[users]  # [n]
    times = timestamps - (int(timestamps.min()) if timestamps.shape[0] else 0)  # [n] >= 0
    user_bits, place_bits = bit_width(users), bit_width(place)
    if user_bits + bit_width(times) + place_bits > PACKED_BITS:
        times = dense_rank(timestamps)
        if user_bits + bit_width(times) + place_bits > PACKED_BITS:
            return np.lexsort((items, timestamps, users))
    time_bits = bit_width(times)
    packed = users.astype(np.uint64) << np.uint64(time_bits + place_bits)  # [n]
    packed |= times.view(np.uint64) << np.uint64(place_bits)
    packed |= place.view(np.uint64)
    packed.sort()
    ordered_users = (packed >> np.uint64(time_bits + place_bits)).view(np.int64)
    packed &= np.uint64((1 << place_bits) - 1)
    return starts[ordered_users] + packed.view(np.int64)


def detect_format(path: str | Path) -> str:
    """The MovieLens layout of a directory (or ratings file), from the files it holds."""
    p = Path(path)
    if p.is_file():
        name = p.name
        p = p.parent
    else:
        name = ""
    if name == "u.data" or (not name and (p / "u.data").is_file()):
        return "ml-100k"
    if name == "ratings.dat" or (not name and (p / "ratings.dat").is_file()):
        # ML-1M and ML-10M share the "::" layout; ML-10M's movie ids and file size differ, but
        # they parse the same way, so the name only matters for the record.
        return "ml-1m"
    if name == "ratings.csv" or (not name and (p / "ratings.csv").is_file()):
        return "ml-latest-small"
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    raise FileNotFoundError(f"no ratings.csv, ratings.dat or u.data in {p}")


class MovieLensError(ValueError):
    """A ratings file that cannot be read in the format asked for, or an unknown format."""


def _ratings_file(path: Path, filename: str, fmt: str) -> Path:
    file = path if path.is_file() else path / filename
    if not file.is_file():
        raise FileNotFoundError(f"no {filename} in {path} (format {fmt})")
    return file


def read_movielens_ratings(path: str | Path, fmt: str = "auto") -> pd.DataFrame:
    """Columns user, item, rating, timestamp (int64, int64, float32, int64) of any release.

    Raises FileNotFoundError when the format's ratings file is not there, and MovieLensError
    (one line, naming the file and the format) when the file does not parse in that format."""
    p = Path(path)
    if fmt not in FORMATS:
        raise MovieLensError(f"unknown MovieLens format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(p)
    try:
        return _read_ratings(p, fmt)
    except (ValueError, KeyError, TypeError) as exc:  # pandas' parse and conversion errors
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MovieLensError(
            f"{p} does not parse as {fmt} (try another --format): {detail}"
        ) from exc


def _read_ratings(p: Path, fmt: str) -> pd.DataFrame:
    names = ["user", "item", "rating", "timestamp"]
    dtypes = {"user": np.int64, "item": np.int64, "rating": np.float32, "timestamp": np.int64}
    if fmt == "ml-100k":
        file = _ratings_file(p, "u.data", fmt)
        return pd.read_csv(file, sep="\t", names=names, dtype=dtypes, engine="c")
    if fmt in ("ml-1m", "ml-10m") or (p.is_dir() and not (p / "ratings.csv").is_file()):
        file = _ratings_file(p, "ratings.dat", fmt)
        # pandas only parses a multi-character separator with its slow Python engine; turning
        # "::" into a tab first keeps the C parser (about 20x faster on ML-10M).
        raw = file.read_bytes().replace(b"::", b"\t")
        return pd.read_csv(
            io.BytesIO(raw), sep="\t", names=names, dtype=dtypes, engine="c", encoding="latin-1"
        )
    file = _ratings_file(p, "ratings.csv", fmt)
    frame = pd.read_csv(file, dtype={"userId": np.int64, "movieId": np.int64}, engine="c")
    frame = frame.rename(columns={"userId": "user", "movieId": "item"})
    return frame.astype(dtypes)[names]


def load_movielens(
    path: str | Path, fmt: str = "auto", *, min_rating: float | None = None
) -> Interactions:
    """Implicit interactions of a MovieLens release: every rating is a positive (the NCF
    paper's treatment), or, with `min_rating`, only ratings of at least that many stars (the
    rest are dropped: not positives; users and movies left with none are not in the data).

    fmt: one of FORMATS; "auto" looks at the files (ratings.csv, ratings.dat or u.data).
    `path` is the release's directory or its ratings file.
    """
    frame = read_movielens_ratings(path, fmt)
    if min_rating is not None:
        frame = frame[frame["rating"].to_numpy() >= min_rating]
    return Interactions.from_arrays(
        frame["user"].to_numpy(), frame["item"].to_numpy(), frame["timestamp"].to_numpy()
    )


def liked_only(
    data: Interactions, ratings: NDArray[np.floating], min_rating: float, *, reindex: bool = True
) -> Interactions:
    """The pairs of `data` rated at least `min_rating` (ratings: [len(data)], in data's row
    order). reindex=True gives new id maps over what is left (a user or movie with no liked
    rating leaves the data); reindex=False keeps data's maps, so indices stay comparable (a
    split of the liked pairs can then be scored against models trained on all of them)."""
    ratings = np.asarray(ratings)
    if ratings.shape != (len(data),):
        raise ValueError(f"ratings has shape {ratings.shape}; expected ({len(data)},)")
    keep = ratings >= min_rating
    if reindex:
        return Interactions.from_arrays(
            data.users.raw(data.user_idx[keep]),
            data.items.raw(data.item_idx[keep]),
            data.timestamps[keep],
        )
    u, i, ts = (
        np.ascontiguousarray(a[keep]) for a in (data.user_idx, data.item_idx, data.timestamps)
    )
    for arr in (u, i, ts):
        arr.setflags(write=False)
    return Interactions(user_idx=u, item_idx=i, timestamps=ts, users=data.users, items=data.items)


def _user_counts(
    n_users: int, n_items: int, n_interactions: int, minimum: int, rng: np.random.Generator
) -> IntArray:
    """Per-user interaction counts: heavy-tailed, at least `minimum`, at most n_items, summing
    to n_interactions."""
    if n_interactions < n_users * minimum or n_interactions > n_users * n_items:
        raise ValueError("n_interactions does not fit n_users x n_items with the minimum count")
    weights = rng.lognormal(mean=0.0, sigma=1.2, size=n_users)  # [n_users]
    spare = n_interactions - n_users * minimum
    counts: IntArray = minimum + np.floor(weights / weights.sum() * spare).astype(np.int64)
    counts = np.minimum(counts, n_items)
    # Hand out what rounding and the cap left, one per user, most active first.
    while (missing := n_interactions - int(counts.sum())) > 0:
        room = np.flatnonzero(counts < n_items)
        room = room[np.argsort(-weights[room], kind="stable")][:missing]
        counts[room] += 1
    return counts


def _sample_per_user(
    counts: IntArray, log_weights: NDArray[np.float64], rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """For each user u, counts[u] distinct items drawn with probability proportional to
    exp(log_weights[u]) without replacement (Gumbel top-k), in blocks of users to bound memory.
    log_weights: [n_users, n_items] or [1, n_items]. Returns (users, items), [sum(counts)] each."""
    n_users = counts.shape[0]
    n_items = log_weights.shape[1]
    block = max(1, (1 << 22) // n_items)
    users_out: list[IntArray] = []
    items_out: list[IntArray] = []
    for start in range(0, n_users, block):
        stop = min(n_users, start + block)
        lw = log_weights if log_weights.shape[0] == 1 else log_weights[start:stop]
        keys = lw + rng.gumbel(size=(stop - start, n_items))  # [block, n_items]
        order = np.argsort(-keys, axis=1)  # [block, n_items]
        take = np.arange(n_items)[None, :] < counts[start:stop, None]  # [block, n_items]
        rows, _ = np.nonzero(take)
        users_out.append(rows.astype(np.int64) + start)
        items_out.append(order[take].astype(np.int64))
    return np.concatenate(users_out), np.concatenate(items_out)


def synthetic_ml1m_shape(
    n_users: int = 6040,
    n_items: int = 3706,
    n_interactions: int = 1_000_209,
    *,
    seed: int = 0,
    popularity_exponent: float = 1.0,
) -> Interactions:
    """Random data of ML-1M's shape for speed runs: user activity heavy-tailed with at least 20
    items per user (as in ML-1M), item popularity a power law (weight of the r-th most popular
    item ~ r^-exponent). Raw ids are 1-based; an item nobody drew is absent, as in MovieLens.
    There is no structure to learn beyond popularity: use it for timing, not for accuracy."""
    rng = np.random.default_rng(seed)
    counts = _user_counts(n_users, n_items, n_interactions, min(20, n_items), rng)
    ranks = rng.permutation(n_items) + 1  # popularity rank of each item id
    log_pop = -popularity_exponent * np.log(ranks.astype(np.float64))[None, :]  # [1, n_items]
    users, items = _sample_per_user(counts, log_pop, rng)
    timestamps = rng.integers(956_703_932, 1_046_454_590, size=users.shape[0], dtype=np.int64)
    return Interactions.from_arrays(users + 1, items + 1, timestamps)


def synthetic_planted(
    n_users: int = 300,
    n_items: int = 200,
    *,
    n_clusters: int = 5,
    per_user: int = 20,
    in_cluster: float = 0.9,
    popularity_exponent: float = 0.3,
    seed: int = 0,
) -> Interactions:
    """Small data with planted taste clusters: user u and item i each belong to one cluster, and
    a user draws `in_cluster` of the probability mass from their own cluster's items. Items also
    have a mild power-law popularity, so popularity is a fair but beatable baseline: a model that
    learns the clusters ranks the held-out item far better than one that only counts."""
    rng = np.random.default_rng(seed)
    user_cluster = rng.integers(0, n_clusters, size=n_users)  # [n_users]
    item_cluster = np.arange(n_items) % n_clusters  # [n_items], balanced
    pop = np.arange(1, n_items + 1, dtype=np.float64) ** -popularity_exponent
    pop = pop[rng.permutation(n_items)]  # [n_items]
    same = user_cluster[:, None] == item_cluster[None, :]  # [n_users, n_items]
    mass_in = np.where(same, pop[None, :], 0.0)
    mass_out = np.where(same, 0.0, pop[None, :])
    probs = in_cluster * mass_in / mass_in.sum(axis=1, keepdims=True) + (
        1.0 - in_cluster
    ) * mass_out / mass_out.sum(axis=1, keepdims=True)  # [n_users, n_items]
    counts = np.full(n_users, min(per_user, n_items), dtype=np.int64)
    users, items = _sample_per_user(counts, np.log(probs), rng)
    timestamps = rng.integers(0, 1_000_000, size=users.shape[0], dtype=np.int64)
    return Interactions.from_arrays(users + 1, items + 1, timestamps)
