"""Scrapy's settings module of Kuroshio's Scrapyd jobs: the one name the deployed egg carries.

The egg built from contrib/scrapyd/ holds no code, only its `scrapy` entry point `settings =
kuroshio.scheduler.scrapyd_settings`: Scrapyd activates it and runs `scrapy crawl` with this module,
which takes its settings from the node's Kuroshio config (`kuroshio.scheduler.scrapyd_job.job_settings`).
A config the node cannot read ends the job (and the deploy, whose `scrapy list` imports this) in one line.
"""

from __future__ import annotations

import sys

from kuroshio.scheduler.config import ConfigError
from kuroshio.scheduler.scrapyd_job import job_settings

try:
    globals().update(job_settings())
except ConfigError as error:
    sys.exit(f"kuroshio: {error}")
