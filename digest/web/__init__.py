"""The read-only web view of the archive (`kuroshio serve`): `app.py` routes the pages, `queries.py` reads
what they show, `present.py` makes stored text safe to show, `store.py` opens the store read-only."""
