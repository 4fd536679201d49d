"""The Scrapyd egg of Kuroshio: no code, only the entry point naming the Scrapy settings module.

scrapyd-deploy runs `python setup.py bdist_egg` here; the node imports kuroshio from its own
environment (pip install 'kuroshio[postgres]' beside scrapyd), so the egg stays the same across versions.
"""

from setuptools import setup

setup(
    name="kuroshio-scrapyd",
    version="1.0",
    py_modules=[],
    entry_points={"scrapy": ["settings = kuroshio.scheduler.scrapyd_settings"]},
)
