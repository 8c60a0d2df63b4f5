"""Rating pages: the star widget's endpoints, My ratings, sign-up and onboarding."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.models import Movie
from catalog.selectors import movie_get
from ratings.accounts import account_create
from ratings.forms import GenrePickForm, RatingForm, SignUpForm
from ratings.selectors import (
    onboarding_movies_for_user,
    profile_for_user,
    rating_list_for_user,
)
from ratings.services import (
    profile_mark_onboarded,
    profile_set_favourite_genres,
    rating_delete,
    rating_upsert,
)
from ratings.throttle import signup_refusal_wait

ONBOARDING_MIN_RATINGS = 5
ONBOARDING_GRID = 24
PAGE_SIZE = 24


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _next_url(request: HttpRequest, default: str) -> str:
    """Where a no-JavaScript form returns to; only this site's own paths."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _movie_or_404(pk: int) -> Movie:
    movie = movie_get(movie_id=pk)
    if movie is None:
        raise Http404("No such movie.")
    return movie


def _rating_payload(request: HttpRequest, movie: Movie, score: float | None) -> dict[str, object]:
    movie.refresh_from_db(fields=["rating_count", "rating_mean"])
    return {
        "movie_id": movie.pk,
        "score": score,
        "rating_count": movie.rating_count,
        "rating_mean": round(movie.rating_mean, 2),
        "my_rating_count": rating_list_for_user(user=request.user).count(),
    }


@login_required
@require_POST
def rate(request: HttpRequest, pk: int) -> HttpResponse:
    """Rate a movie: JSON for the widget's fetch(), a redirect back for a plain form POST."""
    movie = _movie_or_404(pk)
    form = RatingForm(request.POST)
    if not form.is_valid():
        error = form.errors["score"][0]
        if _wants_json(request):
            return JsonResponse({"detail": error, "code": "invalid_score"}, status=400)
        messages.error(request, error)
        return redirect(_next_url(request, reverse("catalog:movie-detail", args=[pk])))
    rating = rating_upsert(user=request.user, movie=movie, score=form.cleaned_data["score"])
    if _wants_json(request):
        return JsonResponse(_rating_payload(request, movie, float(rating.score)))
    messages.success(request, f"You rated {movie.title} {rating.score:g} stars.")
    return redirect(_next_url(request, reverse("catalog:movie-detail", args=[pk])))


@login_required
@require_POST
def unrate(request: HttpRequest, pk: int) -> HttpResponse:
    movie = _movie_or_404(pk)
    removed = rating_delete(user=request.user, movie=movie)
    if _wants_json(request):
        return JsonResponse({**_rating_payload(request, movie, None), "removed": removed})
    if removed:
        messages.success(request, f"Removed your rating of {movie.title}.")
    return redirect(_next_url(request, reverse("catalog:movie-detail", args=[pk])))


@login_required
@require_GET
def my_ratings(request: HttpRequest) -> HttpResponse:
    page = Paginator(rating_list_for_user(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "ratings/rating_list.html", {"page": page})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("catalog:home")
    if request.method == "POST":
        # Throttled like the API's sign-up: no accounts in bulk, no fast username probing.
        wait = signup_refusal_wait(request)
        if wait is not None:
            minutes = max(1, -(-wait // 60))
            response = render(
                request, "registration/signup_throttled.html", {"minutes": minutes}, status=429
            )
            response["Retry-After"] = str(wait)
            return response
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data.get("email", ""),
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:  # a parallel sign-up took the name meanwhile
            form.add_error(None, exc)
            return render(request, "registration/signup.html", {"form": form})
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}! Tell us what you like.")
        return redirect("ratings:onboarding")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def onboarding_genres(request: HttpRequest) -> HttpResponse:
    """Step 1: favourite genres."""
    profile = profile_for_user(user=request.user)
    initial = {"genres": list(profile.favourite_genres.all())} if profile else {}
    form = GenrePickForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        profile_set_favourite_genres(user=request.user, genres=form.cleaned_data["genres"])
        return redirect("ratings:onboarding-rate")
    return render(request, "ratings/profile_onboarding_genres.html", {"form": form})


@login_required
@require_GET
def onboarding_rate(request: HttpRequest) -> HttpResponse:
    """Step 2: rate films of the picked genres (at least ONBOARDING_MIN_RATINGS to finish)."""
    movies = onboarding_movies_for_user(user=request.user, limit=ONBOARDING_GRID)
    rated = rating_list_for_user(user=request.user).count()
    return render(
        request,
        "ratings/profile_onboarding_rate.html",
        {
            "movies": movies,
            "rated": rated,
            "needed": ONBOARDING_MIN_RATINGS,
            "to_go": max(ONBOARDING_MIN_RATINGS - rated, 0),
            "can_finish": rated >= ONBOARDING_MIN_RATINGS,
        },
    )


@login_required
@require_POST
def onboarding_finish(request: HttpRequest) -> HttpResponse:
    """Finish (with enough ratings) or skip; either way the user is onboarded."""
    if request.POST.get("action") != "skip":
        rated = rating_list_for_user(user=request.user).count()
        if rated < ONBOARDING_MIN_RATINGS:
            messages.error(
                request,
                f"Rate at least {ONBOARDING_MIN_RATINGS} films to finish ({rated} so far), "
                "or skip for now.",
            )
            return redirect("ratings:onboarding-rate")
    profile_mark_onboarded(user=request.user)
    return redirect("catalog:home")
