"""Page URLs of the catalog app."""

from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.home, name="home"),
    path("rows/", views.home_rows, name="home-rows"),
    path("movies/<int:pk>/", views.movie_detail, name="movie-detail"),
    path("posters/<int:pk>.svg", views.poster_placeholder, name="poster-placeholder"),
    path("search/", views.search, name="search"),
    path("search/suggest/", views.suggest, name="suggest"),
    path("genres/", views.genre_index, name="genre-list"),
    path("genres/<slug:slug>/", views.genre_detail, name="genre-detail"),
]
