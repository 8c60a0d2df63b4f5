"""Every page passes axe-core (no serious or critical violation) at a desktop's and a phone's
width, and is photographed at both; keyboard focus is always visible.

Pages are seen as a visitor, a new member, a member with ratings and a staff member: the site,
its forms with errors, the open search suggestions and account menu, the error pages, the staff
dashboard and the admin (index, change lists, change and add forms, a new inline row).
The screenshots, <page>-desktop.png and <page>-phone.png, go to RECSITE_SCREENSHOT_DIR when set
(CI artifacts), else a temporary folder; docs/screenshots/take.py makes the committed ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.tokens import default_token_generator
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from ratings.services import profile_mark_onboarded, profile_set_favourite_genres, rating_upsert
from tests.catalog.test_views import build_catalog
from tests.e2e.axe import axe_violations
from tests.e2e.test_staff_dashboard import _staff_with_a_version
from tests.factories import UserFactory

# Markup, contrast and focus: the same on either stack, which the page tests check on both.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.stack_independent,
]

WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}


def _suggestions_open(page) -> None:
    page.get_by_role("combobox", name="Search movies").fill("Film")
    page.locator("#search-suggestions [role=option]").first.wait_for()


def _bad_log_in(page) -> None:
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    page.locator(".form-errors, .errors").first.wait_for()


def _bad_sign_up(page) -> None:
    page.get_by_label("Username").fill("viewer")  # taken
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password confirmation").fill("other")
    page.get_by_role("button", name="Sign up").click()
    page.locator(".form-errors, .errors").first.wait_for()


def _form_expired(page) -> None:
    """Django's CSRF failure page: the form is sent after its cookie is gone."""
    page.context.clear_cookies()
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("whatever-it-is")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="That form has expired").wait_for()


def _error_pages() -> dict[str, tuple[int, str]]:
    """403, 500 and 503 as the handlers render them; served to the browser by a route, since
    the live server has no view that fails on demand."""
    request = RequestFactory().get("/staff/secret/")
    request.user = AnonymousUser()
    request.csp_nonce = "e2e"
    return {
        "403": (403, render_to_string("403.html", request=request)),
        "500": (500, render_to_string("500.html")),
        "503": (503, render_to_string("503.html")),
    }


def _serve(status: int, html: str) -> Callable[[Any], None]:
    def fulfil(route) -> None:
        route.fulfill(status=status, body=html, content_type="text/html; charset=utf-8")

    return fulfil


def _menu_open(page) -> None:
    page.locator(".menu summary").click()
    page.locator(".menu-panel").wait_for()


def _genre_row_added(page) -> None:
    """A new inline row: its select2 box is made when the row is added."""
    rows = page.locator("#Movie_genres-group tr.form-row:not(.empty-form)")
    before = rows.count()
    page.locator("#Movie_genres-group .add-row a").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#Movie_genres-group tr.form-row:not(.empty-form)')"
        ".length === n",
        arg=before + 1,
    )


Check = str | tuple[str, Callable[[Any], None]]  # a path, or a path and what to do there


def _site() -> dict[str, dict[str, Check]]:
    """The people who see the site, each with the pages to check as them: {who: {name: path}}."""
    catalog = build_catalog(n_movies=40, n_raters=12)
    movie, other = catalog.movies[0], catalog.movies[5]
    viewer = UserFactory(username="viewer")
    profile_set_favourite_genres(user=viewer, genres=[catalog.genres["Comedy"]])
    for film, score in zip(
        catalog.movies[1:7], ("5.0", "4.5", "4.0", "3.0", "2.5", "1.0"), strict=True
    ):
        rating_upsert(user=viewer, movie=film, score=score)
    profile_mark_onboarded(user=viewer)
    UserFactory(username="fresh")
    staff = _staff_with_a_version().training_run  # and the staff member "staffer"
    get_user_model().objects.filter(username="staffer").update(is_superuser=True)
    genre = catalog.genres["Drama"].slug
    uid, token = (
        urlsafe_base64_encode(force_bytes(viewer.pk)),
        default_token_generator.make_token(viewer),
    )
    reset = f"/accounts/reset/{uid}/{token}/"
    return {
        "": {
            "home": "/",
            "search-suggestions": ("/", _suggestions_open),
            "movie": f"/movies/{movie.pk}/",
            "genres": "/genres/",
            "genre": f"/genres/{genre}/",
            "search-form": "/search/",
            "search": "/search/?q=film",
            "search-none": "/search/?q=zzzzqq",
            "login": "/accounts/login/",
            "login-errors": ("/accounts/login/", _bad_log_in),
            "form-expired": ("/accounts/login/", _form_expired),
            "signup": "/accounts/signup/",
            "signup-errors": ("/accounts/signup/", _bad_sign_up),
            "password-reset": "/accounts/password_reset/",
            "password-reset-done": "/accounts/password_reset/done/",
            "password-reset-confirm": reset,
            "password-reset-bad-link": "/accounts/reset/MQ/set-password/",
            "password-reset-complete": "/accounts/reset/done/",
            "404": "/no-such-page/",
            "admin-login": "/admin/login/",
        },
        "fresh": {
            "home-new-member": "/",
            "ratings-empty": "/my/ratings/",
            "onboarding-genres": "/welcome/",
            "onboarding-rate": "/welcome/rate/",
            "password-change": "/accounts/password_change/",
            "password-change-done": "/accounts/password_change/done/",
        },
        "viewer": {
            "home-member": "/",
            "account-menu": ("/", _menu_open),
            "movie-rated": f"/movies/{catalog.movies[1].pk}/",
            "movie-member": f"/movies/{other.pk}/",
            "ratings": "/my/ratings/",
        },
        "staffer": {
            "staff": "/staff/",
            "admin": "/admin/",
            "admin-movies": "/admin/catalog/movie/",
            "admin-movie": f"/admin/catalog/movie/{movie.pk}/change/",
            "admin-movie-genre-added": (
                f"/admin/catalog/movie/{movie.pk}/change/",
                _genre_row_added,
            ),
            "admin-movie-add": "/admin/catalog/movie/add/",
            "admin-runs": "/admin/recommender/trainingrun/",
            "admin-run": f"/admin/recommender/trainingrun/{staff.pk}/change/",
        },
    }


def _signed_in(browser, live_server, username: str, viewport: tuple[int, int]):
    """A browser context with the user's session cookie (no log-in form: that page has its
    own check), offline for TMDB like the other browser tests."""
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        base_url=live_server.url,
        reduced_motion="reduce",
    )
    context.set_default_timeout(10_000)
    context.route("https://image.tmdb.org/**", lambda route: route.abort())
    if username:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
    return context


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_passes_axe_and_is_photographed(browser, live_server, tmp_path, width):
    shots = Path(os.environ.get("RECSITE_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}
    for username, pages in _site().items():
        context = _signed_in(browser, live_server, username, WIDTHS[width])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        if not username:
            for code, (status, html) in _error_pages().items():
                pages[code] = f"/__error/{code}/"
                page.route(f"{live_server.url}/__error/{code}/", _serve(status, html))
        for name, check in pages.items():
            path, action = check if isinstance(check, tuple) else (check, None)
            response = page.goto(path)
            assert response is not None
            expected = int(name) if name.isdigit() else 200
            assert response.status == expected, (name, path, response.status)
            if action is not None:
                action(page)
            violations = axe_violations(page)
            if violations:
                found[f"{name} {path}"] = violations
            page.screenshot(path=str(shots / f"{name}-{width}.png"))
        context.close()
        assert errors == [], f"JavaScript errors as {username or 'anonymous'}: {errors}"
    assert found == {}, "\n".join(f"{page}: {v}" for page, vs in found.items() for v in vs)


# Outline, shadow, border, background and underline of the focused element and three ancestors
# (a wrapper may show the ring through :focus-within, as the search box and the stars do).
LOOK = """el => {
  const look = [];
  for (let node = el, depth = 0; node && depth < 4; node = node.parentElement, depth++) {
    const s = getComputedStyle(node);
    look.push([s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.borderColor,
               s.backgroundColor, s.textDecorationLine].join(" "));
  }
  return look;
}"""
NAME = """el => el === document.body ? null : (el.tagName.toLowerCase()
  + (el.id ? "#" + el.id : "")
  + (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "")
  + " " + (el.getAttribute("aria-label") || el.textContent || el.value || "")
    .trim().slice(0, 30))"""


def _tab_stops_without_a_visible_focus(page, limit: int = 80) -> tuple[int, list[str]]:
    """Tab through the page from the top (or its autofocused field) to the end or `limit`
    stops: (stops seen, those that look the same unfocused).

    Each stop is compared with itself after blur(); the next Tab goes on from the blurred
    element (the sequential focus navigation starting point), so nothing is skipped."""
    hidden: list[str] = []
    for stop in range(limit):
        page.keyboard.press("Tab")
        element = page.evaluate_handle("document.activeElement")
        name = element.evaluate(NAME)
        if name is None:  # past the last stop
            return stop, hidden
        focused = element.evaluate(LOOK)
        element.evaluate("el => el.blur()")
        if element.evaluate(LOOK) == focused:
            hidden.append(name)
    return limit, hidden


def test_keyboard_focus_is_always_visible(browser, live_server):
    pages = _site()
    checked = {
        "": ["login", "signup", "search", "404"],
        "fresh": ["onboarding-genres", "onboarding-rate"],
        "viewer": ["home-member", "movie-rated", "ratings"],
        "staffer": ["staff", "admin-movie"],
    }
    found: dict[str, list[str]] = {}
    for username, names in checked.items():
        context = _signed_in(browser, live_server, username, WIDTHS["desktop"])
        page = context.new_page()
        for name in names:
            page.goto(pages[username][name])
            stops, hidden = _tab_stops_without_a_visible_focus(page)
            assert stops >= 3, (name, stops)
            if hidden:
                found[name] = hidden
        context.close()
    assert found == {}, found

    # The check can fail: links with their ring taken away are caught.
    context = _signed_in(browser, live_server, "", WIDTHS["desktop"])
    page = context.new_page()
    page.goto(pages[""]["404"])
    page.evaluate("() => document.querySelectorAll('a').forEach(a => a.style.outline = 'none')")
    _, hidden = _tab_stops_without_a_visible_focus(page)
    assert any(name.startswith("a.brand") for name in hidden), hidden
    context.close()
