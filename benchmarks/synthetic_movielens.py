"""Writes a synthetic MovieLens release (the ML-25M/32M csv layout) at a chosen shape.

movies.csv "movieId,title,genres", links.csv "movieId,imdbId,tmdbId" and ratings.csv
"userId,movieId,rating,timestamp", sorted by user then movie as GroupLens ships them. Movie
popularity follows a power law, user activity a Pareto law with at least 20 ratings a user (as in
MovieLens), scores are half stars, and every (user, movie) pair is unique. Ratings are generated
and formatted with NumPy a block of users at a time, so memory stays flat at any shape.

    python benchmarks/synthetic_movielens.py --shape 32m --out /tmp/ml-32m --seed 0
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Shape:
    users: int
    movies: int
    ratings: int


SHAPES = {
    "latest-small": Shape(610, 9_742, 100_836),
    "100k": Shape(943, 1_682, 100_000),
    "1m": Shape(6_040, 3_706, 1_000_209),
    "5m": Shape(32_000, 30_000, 5_000_000),
    "32m": Shape(200_948, 87_585, 32_000_204),
}
MIN_RATINGS_PER_USER = 20
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary")
GENRES += ("Drama", "Fantasy", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller")
# Half stars 0.5 .. 5.0 weighted roughly as in ML-32M (4.0 and 3.0 most common).
SCORE_WEIGHTS = np.array([1.6, 3.3, 1.7, 6.6, 5.0, 19.5, 13.2, 26.6, 8.5, 14.0])
FIRST_TS, LAST_TS = 789_652_009, 1_697_164_147  # 1995-01-09 .. 2023-10-13, as in ML-32M
BLOCK_RATINGS = 1_000_000  # ratings generated and written per block of users


@dataclass(frozen=True)
class RatingsBlock:
    user: NDArray[np.int64]  # [n] 1-based, ascending
    movie: NDArray[np.int64]  # [n] 1-based, ascending within a user
    half_stars: NDArray[np.int64]  # [n] 1..10, the score times two
    timestamp: NDArray[np.int64]  # [n] Unix seconds


def user_activity(shape: Shape, rng: np.random.Generator) -> NDArray[np.int64]:
    """Ratings per user: 20 plus a Pareto tail, summing to exactly shape.ratings. [users]"""
    cap = max(MIN_RATINGS_PER_USER, shape.movies // 3)  # leaves room to draw distinct movies
    extra_total = shape.ratings - MIN_RATINGS_PER_USER * shape.users
    if extra_total < 0 or shape.ratings > cap * shape.users:
        raise ValueError(f"{shape} cannot give every user {MIN_RATINGS_PER_USER} to {cap}")
    weights = rng.pareto(1.1, shape.users)  # [users]
    room = cap - MIN_RATINGS_PER_USER
    low, high = 0.0, extra_total / weights.min(initial=1.0, where=weights > 0)
    for _ in range(100):  # the scale at which the capped shares sum to just under extra_total
        scale = (low + high) / 2
        if np.minimum(np.floor(weights * scale), room).sum() > extra_total:
            high = scale
        else:
            low = scale
    extra = np.minimum(np.floor(weights * low), room).astype(np.int64)
    short = extra_total - int(extra.sum())  # fewer than one a user: hand them out at random
    open_users = np.flatnonzero(extra < room)
    extra[rng.choice(open_users, size=short, replace=False)] += 1
    return extra + MIN_RATINGS_PER_USER


def ratings_blocks(shape: Shape, seed: int = 0) -> Iterator[RatingsBlock]:
    """Every rating of the release, a block of whole users at a time, sorted by user and movie."""
    rng = np.random.default_rng(seed)
    counts = user_activity(shape, rng)  # [users]
    popularity = 1.0 / np.arange(1, shape.movies + 1) ** 0.9
    # Popular movies get scattered ids, as in a real release.
    cdf = np.cumsum(popularity / popularity.sum())  # [movies]
    movie_of_rank = rng.permutation(shape.movies) + 1  # [movies]
    ends = np.searchsorted(np.cumsum(counts), np.arange(1, shape.ratings, BLOCK_RATINGS)[1:])
    for first, stop in zip(
        np.r_[0, ends], np.r_[ends, shape.users], strict=True
    ):  # users [first, stop)
        if first == stop:
            continue
        ranks = _distinct_ranks(counts[first:stop], cdf, rng)
        user_local = ranks // shape.movies  # [n]
        movie = movie_of_rank[ranks % shape.movies]
        order = np.lexsort((movie, user_local))
        n = order.size
        yield RatingsBlock(
            user=user_local[order] + first + 1,
            movie=movie[order],
            half_stars=rng.choice(10, size=n, p=SCORE_WEIGHTS / SCORE_WEIGHTS.sum()) + 1,
            timestamp=rng.integers(FIRST_TS, LAST_TS, size=n),
        )


def _distinct_ranks(
    counts: NDArray[np.int64], cdf: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """For each user u of a block, counts[u] distinct popularity ranks drawn from cdf, encoded
    u * movies + rank: oversample, drop repeats, keep a random counts[u] of each user's draws,
    and draw again for users left short."""
    movies = cdf.size
    have = np.zeros(counts.size, dtype=np.int64)
    keys = np.zeros(0, dtype=np.int64)
    factor = 1.3
    while (deficit := counts - have).max() > 0:
        draws = np.where(deficit > 0, np.ceil(deficit * factor).astype(np.int64) + 4, 0)
        user = np.repeat(np.arange(counts.size), draws)
        rank = np.minimum(np.searchsorted(cdf, rng.random(user.size)), movies - 1)
        keys = np.sort(np.concatenate([keys, user * movies + rank]))
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]  # sort-based unique: faster than hashing
        have = np.bincount(keys // movies, minlength=counts.size)
        factor *= 2
    # A random priority per key; keep the counts[u] first keys of each user by priority.
    user = keys // movies
    order = np.lexsort((rng.random(keys.size), user))
    start = np.r_[0, np.cumsum(have)[:-1]]  # [block users] where each user's keys begin
    rank_in_user = np.arange(keys.size) - start[user[order]]
    return keys[order[rank_in_user < counts[user[order]]]]


def csv_lines(block: RatingsBlock) -> bytes:
    """The block as ratings.csv lines, formatted without a Python loop over rows."""
    n = block.user.size
    columns = [
        _digits(block.user),
        _constant(n, b","),
        _digits(block.movie),
        _constant(n, b","),
        _digits(block.half_stars // 2),
        _constant(n, b"."),
        _half(block.half_stars),
        _constant(n, b","),
        _digits(block.timestamp),
        _constant(n, b"\n"),
    ]
    chars = np.concatenate([c for c, _ in columns], axis=1)  # [n, width]
    keep = np.concatenate([k for _, k in columns], axis=1)  # [n, width]
    return chars[keep].tobytes()


def _digits(values: NDArray[np.int64]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """ASCII digits of non-negative ints, right-aligned, and the mask without leading zeros."""
    width = max(1, len(str(int(values.max())))) if values.size else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)  # [width]
    digits = (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)  # [n, width]
    keep = values[:, None] >= powers
    keep[:, -1] = True
    return digits, keep


def _half(half_stars: NDArray[np.int64]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """The digit after the point: 5 for an odd number of half stars, else 0."""
    digit = np.where(half_stars % 2 == 1, ord("5"), ord("0")).astype(np.uint8)[:, None]
    return digit, np.ones_like(digit, dtype=bool)


def _constant(n: int, char: bytes) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    return np.full((n, 1), char[0], dtype=np.uint8), np.ones((n, 1), dtype=bool)


def write_release(folder: Path, shape: Shape, seed: int = 0) -> Path:
    """movies.csv, links.csv and ratings.csv of a synthetic release in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    with open(folder / "movies.csv", "w", encoding="utf-8") as f:
        f.write("movieId,title,genres\n")
        for movie in range(1, shape.movies + 1):
            picked = rng.choice(len(GENRES), size=1 + movie % 3, replace=False)
            genres = "|".join(GENRES[g] for g in sorted(picked))
            title = (
                f'"Movie {movie}, The ({1920 + movie % 100})"'
                if movie % 5 == 0
                else (f"Movie {movie} ({1920 + movie % 100})")
            )
            f.write(f"{movie},{title},{genres}\n")
    with open(folder / "links.csv", "w", encoding="utf-8") as f:
        f.write("movieId,imdbId,tmdbId\n")
        for movie in range(1, shape.movies + 1):
            tmdb = "" if movie % 97 == 0 else str(movie + 10)
            f.write(f"{movie},{movie + 100_000:07d},{tmdb}\n")
    with open(folder / "ratings.csv", "wb") as f:
        f.write(b"userId,movieId,rating,timestamp\n")
        for block in ratings_blocks(shape, seed):
            f.write(csv_lines(block))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1m")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the files to")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    write_release(args.out, SHAPES[args.shape], args.seed)
    shape = SHAPES[args.shape]
    print(
        f"{args.shape}: {shape.users:,} users, {shape.movies:,} movies, {shape.ratings:,} ratings "
        f"written to {args.out} in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
