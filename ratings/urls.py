"""Page URLs of the ratings app."""

from django.urls import path

from ratings import views

app_name = "ratings"
urlpatterns = [
    path("movies/<int:pk>/rate/", views.rate, name="rate"),
    path("movies/<int:pk>/unrate/", views.unrate, name="unrate"),
    path("my/ratings/", views.my_ratings, name="my-ratings"),
    path("accounts/signup/", views.signup, name="signup"),
    path("welcome/", views.onboarding_genres, name="onboarding"),
    path("welcome/rate/", views.onboarding_rate, name="onboarding-rate"),
    path("welcome/finish/", views.onboarding_finish, name="onboarding-finish"),
]
