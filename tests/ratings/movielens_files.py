"""Writes small MovieLens releases in every supported layout, for importer tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

# (movie id, raw title, genres), (user, movie, score, timestamp)
MOVIES = [
    (1, "Toy Story (1995)", ["Adventure", "Animation", "Children", "Comedy"]),
    (2, "Matrix, The (1999)", ["Action", "Sci-Fi"]),
    (3, 'Café "Noir" (2001)', ["Drama"]),
    (4, "Babylon 5", []),
]
RATINGS = [
    (1, 1, 4.0, 964982703),
    (1, 2, 5.0, 964982224),
    (2, 1, 3.0, 964983815),
    (2, 3, 1.0, 964984000),
    (3, 2, 4.0, 964985000),
]
HALF_STAR_RATINGS = [(3, 3, 3.5, 964986000)]
LINKS = [(1, "0114709", "862"), (2, "0133093", "603"), (3, "0000003", ""), (4, "0000004", "")]


def write_csv_release(folder: Path, *, ratings: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    movie_lines = ["movieId,title,genres"]
    for movie_id, title, genres in MOVIES:
        quoted = '"' + title.replace('"', '""') + '"' if ("," in title or '"' in title) else title
        movie_lines.append(f"{movie_id},{quoted},{'|'.join(genres) or '(no genres listed)'}")
    (folder / "movies.csv").write_text("\n".join(movie_lines) + "\n", encoding="utf-8")
    link_lines = ["movieId,imdbId,tmdbId"] + [f"{m},{i},{t}" for m, i, t in LINKS]
    (folder / "links.csv").write_text("\n".join(link_lines) + "\n", encoding="utf-8")
    if ratings is None:
        ratings = [f"{u},{m},{s},{t}" for u, m, s, t in RATINGS + HALF_STAR_RATINGS]
    (folder / "ratings.csv").write_text(
        "\n".join(["userId,movieId,rating,timestamp", *ratings]) + "\n", encoding="utf-8"
    )
    return folder


def write_1m_release(folder: Path, *, ratings: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{m}::{t}::{'|'.join(g) if g else '(no genres listed)'}".replace("Children", "Children's")
        for m, t, g in MOVIES
    ]
    (folder / "movies.dat").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    if ratings is None:
        ratings = [f"{u}::{m}::{int(s)}::{t}" for u, m, s, t in RATINGS]
    (folder / "ratings.dat").write_bytes(("\n".join(ratings) + "\n").encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n", encoding="latin-1")
    return folder


ML100K_ORDER = [
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
]  # fmt: skip


def write_100k_release(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for movie_id, title, genres in MOVIES:
        flags = ["1" if name in genres else "0" for name in ML100K_ORDER]
        lines.append("|".join([str(movie_id), title, "01-Jan-1995", "", "http://x", *flags]))
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    rows = [f"{u}\t{m}\t{int(s)}\t{t}" for u, m, s, t in RATINGS]
    (folder / "u.data").write_text("\n".join(rows) + "\n", encoding="latin-1")
    return folder


def zip_release(folder: Path, zip_path: Path, top: str) -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for child in sorted(folder.iterdir()):
            archive.write(child, f"{top}/{child.name}")
    return zip_path
