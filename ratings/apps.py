from django.apps import AppConfig


class RatingsConfig(AppConfig):
    name = "ratings"
    verbose_name = "Ratings"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_save

        from ratings.accounts import rotate_token_after_password_change

        post_save.connect(
            rotate_token_after_password_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="ratings.rotate_token_after_password_change",
        )
