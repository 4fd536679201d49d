import sys
from pathlib import Path

# Test helpers (tests/fixture_web.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
