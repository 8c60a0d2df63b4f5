"""Entry point of `python -m recommender.engine`."""

from recommender.engine.cli import main

raise SystemExit(main())
