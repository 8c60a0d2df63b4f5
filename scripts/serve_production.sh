#!/usr/bin/env bash
# Production on one machine (`make prod`, or systemd's ExecStart): check the environment, collect
# the static files, migrate, then run gunicorn, a Celery worker and Celery beat
# (Procfile.production) until SIGTERM or Ctrl-C, which stop them all and end with status 0.
# Settings come from the environment or .env, as everywhere (.env.example lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_PRODUCTION=1  # forces DEBUG off, hashed and compressed static files, HTTPS

missing=()
for var in DJANGO_SECRET_KEY DJANGO_ALLOWED_HOSTS; do
  if [ -z "${!var:-}" ] && ! grep -qE "^${var}=.+" .env 2>/dev/null; then
    missing+=("$var")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "serve_production.sh: set ${missing[*]} (environment or .env; see .env.example)" >&2
  exit 2
fi

"$PY" manage.py check --deploy
# Without the manifest collectstatic writes, every page that names a static file answers 500.
"$PY" manage.py collectstatic --no-input
"$PY" manage.py migrate --no-input
exec "$PY" scripts/procfile_start.py -f Procfile.production
