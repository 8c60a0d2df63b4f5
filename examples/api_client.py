"""A client of the recsite API: sign up, rate a few popular movies, print recommendations."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

import requests

# Scores given to the most popular movies, in order: a mix, so the recommender has a signal.
DEFAULT_SCORES = (5.0, 4.5, 4.0, 2.0, 1.5)
TIMEOUT_SECONDS = 30


class ApiError(Exception):
    """A non-2xx answer, carrying the API's error body ({"detail", "code"[, "errors"]})."""

    def __init__(self, response: requests.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:200], "code": "not_json"}
        self.status = response.status_code
        self.body = body
        errors = body.get("errors")
        super().__init__(
            f"{response.request.method} {response.url} -> {response.status_code} "
            f"{body.get('code')}: {body.get('detail')}" + (f" {errors}" if errors else "")
        )


class RecsiteClient:
    """Thin wrapper over requests.Session; the token, once known, goes on every request."""

    def __init__(self, base_url: str) -> None:
        self.api = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.api}{path}", timeout=TIMEOUT_SECONDS, **kwargs
        )
        if not response.ok:
            raise ApiError(response)
        return response.json() if response.content else None

    def sign_up(self, username: str, password: str, email: str = "") -> dict[str, Any]:
        account = self._call(
            "POST",
            "/auth/signup/",
            json={"username": username, "password": password, "email": email},
        )
        self.session.headers["Authorization"] = f"Token {account['token']}"
        return account

    def popular_movies(self, count: int) -> list[dict[str, Any]]:
        page = self._call("GET", "/movies/", params={"ordering": "popularity", "page_size": count})
        return page["results"][:count]

    def rate(self, movie_id: int, score: float) -> dict[str, Any]:
        return self._call("PUT", f"/me/ratings/{movie_id}/", json={"score": score})

    def recommendations(self, k: int, genre: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"k": k}
        if genre:
            params["genre"] = genre
        return self._call("GET", "/me/recommendations/", params=params)

    def revoke_token(self) -> None:
        self._call("DELETE", "/auth/token/")
        self.session.headers.pop("Authorization", None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="The site's root.")
    parser.add_argument("--username", help="Default: a fresh random name.")
    parser.add_argument("--password", help="Default: a fresh random password.")
    parser.add_argument(
        "--scores",
        default=",".join(str(s) for s in DEFAULT_SCORES),
        help="Comma-separated scores given to the most popular movies, in order.",
    )
    parser.add_argument("-k", type=int, default=10, help="How many recommendations.")
    parser.add_argument("--genre", help="Only recommendations of this genre (slug).")
    parser.add_argument(
        "--keep-token", action="store_true", help="Do not revoke the token at the end."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scores = [float(s) for s in args.scores.split(",") if s.strip()]
    username = args.username or f"client-{secrets.token_hex(4)}"
    # A random password passes Django's validators (length, not common, not numeric).
    password = args.password or secrets.token_urlsafe(16)

    client = RecsiteClient(args.base_url)
    try:
        account = client.sign_up(username, password)
        print(f"signed up: {account['username']} (id {account['id']})")

        movies = client.popular_movies(len(scores))
        for movie, score in zip(movies, scores, strict=False):
            rating = client.rate(movie["id"], score)
            print(f"rated: {movie['id']} {movie['title']} -> {rating['score']}")

        picks = client.recommendations(args.k, args.genre)
        print(f"recommendations: {len(picks)}")
        for rank, pick in enumerate(picks, start=1):
            movie = pick["movie"]
            print(
                f"{rank:>3}. {movie['id']} {movie['title']} ({movie['year'] or '?'}) "
                f"score={pick['score']:.3f} source={pick['source']} reason={pick['reason']}"
            )
        if not args.keep_token:
            client.revoke_token()
            print("token revoked")
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"error: cannot reach {args.base_url}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
