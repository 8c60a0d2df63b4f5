from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        # The catalog's pages get their rows through this one hook (catalog/feeds.py).
        from catalog.feeds import feed_provider_register
        from recommender.serving.feed import page_feed

        feed_provider_register(page_feed)
