"""The app ``bench_api.py`` serves: the benchmark's workflows (``_workload.make_app``) on the
database named by ``$DAYTWO_BENCH_DATABASE``, for ``daytwo serve --app _api_app:app``."""

from __future__ import annotations

import os

from _workload import make_app

app = make_app(os.environ["DAYTWO_BENCH_DATABASE"])
