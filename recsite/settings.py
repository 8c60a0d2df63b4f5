"""Settings, all read from the environment (every variable is listed in .env.example)."""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Production hardening is one switch, so `manage.py check --deploy` is clean with it on.
PRODUCTION = env.bool("DJANGO_PRODUCTION", default=False)
# Off unless asked for (`make run` and `make web` ask): DEBUG's error pages show the settings,
# URLs with passwords included, to anyone who can make a request fail.
DEBUG = env.bool("DJANGO_DEBUG", default=False) and not PRODUCTION

_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production-8f3k2j5h7g9d1s"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=None if PRODUCTION else _DEV_SECRET_KEY)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_PRODUCTION is on.")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "django_celery_beat",
    "catalog",
    "ratings",
    "recommender",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "recsite.middleware.ContentSecurityPolicyMiddleware",  # strict CSP, nonce per request
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "recsite.urls"
WSGI_APPLICATION = "recsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it, so a restarted database costs the
# requests made while it was down (answered 503), not the first ones after it is back.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that polls the socket before it asks SELECT 1.
    DATABASES["default"]["ENGINE"] = "recsite.db.postgresql"
    # An unreachable host fails a request in seconds (503) instead of holding a worker.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DATABASE_CONNECT_TIMEOUT", default=5
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        # A fresh clone has no var/ (it is git-ignored); SQLite will not create the folder.
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Failed log-ins (pages and admin) allowed per window, per client address and per client + name.
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_FAILURES_PER_NAME = env.int("LOGIN_FAILURES_PER_NAME", default=5)
LOGIN_FAILURES_PER_CLIENT = env.int("LOGIN_FAILURES_PER_CLIENT", default=20)
LOGIN_REDIRECT_URL = "catalog:home"
LOGOUT_REDIRECT_URL = "catalog:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Production serves only what collectstatic wrote (hashed names, compressed copies); elsewhere
# WhiteNoise finds the files where they live, with DEBUG on or off, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://recsite"),
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Redis as the cache fails open (recsite/cache.py): an outage costs misses, never a 500,
    # and a Redis that never answers costs half a second once per RETRY_SECONDS, not per call.
    CACHES["default"]["BACKEND"] = "recsite.cache.FailOpenRedisCache"
    _cache_options = CACHES["default"].setdefault("OPTIONS", {})
    _cache_options.setdefault("socket_connect_timeout", 0.5)
    _cache_options.setdefault("socket_timeout", 0.5)

# --- Mail (password reset) --------------------------------------------------------------------
# One URL: consolemail:// (the default: messages go to the web process's output),
# smtp://user:password@host:25, smtp+tls://...:587 (STARTTLS), smtp+ssl://...:465 (implicit TLS).
# Parts the URL leaves out (no port, no login) keep Django's defaults.
_email = env.email_url("EMAIL_URL", default="consolemail://")
globals().update({name: value for name, value in _email.items() if value not in (None, "")})
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # a silent mail server must not hold a worker
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="recsite <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery -----------------------------------------------------------------------------------
# The embedded broker is kombu's filesystem transport: a real separate worker process, no server.
CELERY_DATA_DIR = Path(env("CELERY_DATA_DIR", default=str(VAR_DIR / "celery")))
EMBEDDED_BROKER = "filesystem://"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=EMBEDDED_BROKER)
CELERY_RESULT_BACKEND = env(
    "CELERY_RESULT_BACKEND", default=f"file://{(CELERY_DATA_DIR / 'results').as_posix()}"
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
else:
    # An unacknowledged task (worker killed) is redelivered after this many seconds; it must
    # exceed the longest training run, or a running task is handed out a second time.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
# A Redis result store that is down costs a caller about a second, not Celery's default 20
# reconnect attempts one second apart (only the precompute chord uses the store).
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Recommender -------------------------------------------------------------------------------
ARTIFACT_DIR = Path(env("RECSITE_ARTIFACT_DIR", default=str(VAR_DIR / "artifacts")))
RECSITE_DEVICE = env("RECSITE_DEVICE", default="auto")  # auto | cpu | cuda | mps
RECSITE_TOP_K = env.int("RECSITE_TOP_K", default=50)
# Users per precompute task: the chord's unit of work, shared by the workers.
RECSITE_PRECOMPUTE_CHUNK_USERS = env.int("RECSITE_PRECOMPUTE_CHUNK_USERS", default=500)
# Precompute a catalog of more than RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS movies by candidate
# retrieval (recommender/engine/retrieval.py): a cheap surrogate picks this many candidates per
# user and the full model reranks them. 0 scores every movie for every user. Below the
# threshold scoring every movie is cheap and the surrogate's fit (seconds per worker) is not.
RECSITE_PRECOMPUTE_CANDIDATES = env.int("RECSITE_PRECOMPUTE_CANDIDATES", default=1000)
RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS = env.int("RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS", default=20000)
# An active version still without its lists this long after activation is precomputed again by
# the periodic reaper (a worker was lost mid-precompute); a starting worker does it at once.
RECSITE_PRECOMPUTE_STALL_SECONDS = env.int("RECSITE_PRECOMPUTE_STALL_SECONDS", default=1800)
RECSITE_RETRAIN_AFTER_RATINGS = env.int("RECSITE_RETRAIN_AFTER_RATINGS", default=500)
# At most one automatic retrain (after RECSITE_RETRAIN_AFTER_RATINGS new ratings) this often.
RECSITE_AUTO_RETRAIN_MIN_SECONDS = env.int("RECSITE_AUTO_RETRAIN_MIN_SECONDS", default=3600)
RECSITE_COLD_START_RATINGS = env.int("RECSITE_COLD_START_RATINGS", default=10)
# Seconds a user's computed list is reused while nothing it depends on changed (0: never).
RECSITE_RESULT_CACHE_SECONDS = env.int("RECSITE_RESULT_CACHE_SECONDS", default=300)
# Recommendation lists each web process keeps in memory in front of the shared cache (0: none).
RECSITE_RESULT_MEMO_SIZE = env.int("RECSITE_RESULT_MEMO_SIZE", default=256)
RECSITE_DEFAULT_BACKEND = env("RECSITE_DEFAULT_BACKEND", default="numpy")
# A retrain's configuration: the engine's defaults (NeuMFConfig), then the JSON file named here
# (what `python -m recommender.engine tune --out FILE` writes; unset: none), then min_rating
# below, then the overrides given with the run.
RECSITE_MODEL_CONFIG = env("RECSITE_MODEL_CONFIG", default="")
# Ratings below this many stars are not positives for the model (docs/benchmarks.md, "Low
# ratings": full-catalogue NDCG@10 +12 %, fewer films of a disliked kind). Empty: every rating
# counts, as in the NCF paper.
RECSITE_MIN_RATING = env("RECSITE_MIN_RATING", default="3.5")
# A training run holds a lock it renews every epoch; past this many seconds without a renewal
# (a stuck run) the next run takes it over. Must exceed the slowest epoch.
RECSITE_TRAINING_LOCK_SECONDS = env.int("RECSITE_TRAINING_LOCK_SECONDS", default=900)
# While it trains, a worker writes its run's heartbeat this often (seconds), whatever an epoch
# takes; a running run without one for RECSITE_TRAINING_STALE_SECONDS has lost its worker: the
# reaper takes it back and cancel ends it at once, without waiting for the lock to lapse.
RECSITE_TRAINING_HEARTBEAT_SECONDS = env.float("RECSITE_TRAINING_HEARTBEAT_SECONDS", default=5.0)
RECSITE_TRAINING_STALE_SECONDS = env.float("RECSITE_TRAINING_STALE_SECONDS", default=30.0)
# How often a web process re-reads the active model version id and the catalog snapshot.
RECSITE_REGISTRY_CHECK_SECONDS = env.float("RECSITE_REGISTRY_CHECK_SECONDS", default=2.0)
RECSITE_CATALOG_CHECK_SECONDS = env.float("RECSITE_CATALOG_CHECK_SECONDS", default=1.0)
# A web process serving a version loads a newly activated one in a thread and serves the old
# one until it is ready, so no request waits for a load (recommender/registry.py).
RECSITE_MODEL_SWAP_IN_BACKGROUND = env.bool("RECSITE_MODEL_SWAP_IN_BACKGROUND", default=True)
MOVIELENS_DOWNLOAD_URL = env(
    "MOVIELENS_DOWNLOAD_URL", default="https://files.grouplens.org/datasets/movielens/"
)
MOVIELENS_DEFAULT_DIR = BASE_DIR / "data" / "ml-latest-small"

# --- TMDB --------------------------------------------------------------------------------------
TMDB_API_KEY = env("TMDB_API_KEY", default="")
TMDB_READ_TOKEN = env("TMDB_READ_TOKEN", default="")
TMDB_API_URL = env("TMDB_API_URL", default="https://api.themoviedb.org/3")
TMDB_IMAGE_URL = env("TMDB_IMAGE_URL", default="https://image.tmdb.org/t/p/")

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Every API view's defaults live here (recsite/api_views.py adds only request checks DRF has
    # no setting for). Token first: DRF answers 401 (not 403) with the first authenticator's
    # WWW-Authenticate challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "recsite.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only; nested deeper than recsite.api_parsers.MAX_JSON_DEPTH is a 400 parse_error.
    "DEFAULT_PARSER_CLASSES": ["recsite.api_parsers.DepthLimitedJSONParser"],
    # JSON out only: no HTML page, one body format for the schema to describe (Swagger UI is
    # the browser's way in; the schema views pick their own renderers). DRF's renderer,
    # encoding with orjson.
    "DEFAULT_RENDERER_CLASSES": ["recsite.api_renderers.JSONRenderer"],
    # DRF's negotiation, answering the usual Accept headers without parsing them.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "recsite.api_negotiation.ContentNegotiation",
    # Documents each operation's error answers (recsite/api_schema.py).
    "DEFAULT_SCHEMA_CLASS": "recsite.api_schema.ApiAutoSchema",
    # Page numbers; ?page_size= from 1 to 100, strictly checked.
    "DEFAULT_PAGINATION_CLASS": "recsite.api_pagination.ApiPagination",
    "PAGE_SIZE": 24,
    # DRF's rates and keys, counted with atomic cache increments (recsite/api_throttles.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "recsite.api_throttles.AnonRateThrottle",
        "recsite.api_throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="600/min"),
        # Token obtain and sign-up (ScopedRateThrottle): guessing passwords stays slow.
        "auth": env("API_THROTTLE_AUTH", default="10/min"),
    },
    "EXCEPTION_HANDLER": "recsite.api_errors.api_exception_handler",
    # Throttles tell anonymous clients apart by address. Unset, DRF trusts a client's own
    # X-Forwarded-For, so rotating it escapes every limit; behind N trusted proxies set N.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "recsite API",
    "DESCRIPTION": "Movies, ratings and NeuMF recommendations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,  # request bodies without the read-only fields
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security (on in production) ---------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the rating widget reads the CSRF token for fetch()
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # urllib3 logs each request URL at DEBUG, TMDB's api_key query parameter included.
    "loggers": {"urllib3": {"level": "INFO"}},
}
