#!/usr/bin/env bash
# Render a real digest in headless Chromium and save a screenshot a reviewer can look at.
#
# It starts the offline fixture web (python -m kuroshio.fixtures.server), crawls it into a throwaway SQLite
# database, writes the digest's HTML part with `kuroshio digest --out digest.html` and screenshots
# it. The config adds a second topic (so stories are grouped) and one source on a host the fixture
# web does not serve (so the footer names a source whose crawl failed). Nothing is sent or marked.
#
# Usage:  contrib/preview-digest.sh [OUTPUT.png]        default: docs/digest-preview.png
# Needs:  the project's virtualenv (.venv, or set KUROSHIO_VENV) and Debian's chromium
#         (apt-get install chromium; fonts-noto-cjk renders the Chinese and Japanese names).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KUROSHIO_VENV:-$repo/.venv}
output=$(realpath -m "${1:-$repo/docs/digest-preview.png}")
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "preview-digest: $chromium not found (apt-get install chromium)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cd "$repo"
"$venv/bin/python" -m kuroshio.fixtures.server >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 50); do
    [ -s "$work/server.out" ] && break
    sleep 0.1
done
proxy=$(head -n 1 "$work/server.out")
[ -n "$proxy" ] || { echo "preview-digest: the fixture web did not start:" >&2; cat "$work/server.err" >&2; exit 1; }

cat >"$work/kuroshio.toml" <<TOML
[storage]
url = "sqlite:///$work/kuroshio.db"

[crawl]
proxy = "$proxy"
download_delay = 0.0
autothrottle = false
timeout = 10
retry_times = 0
max_age = "0d"   # the fixture web is dated 2025: no lookback window

[[sources]]
name = "focus-taiwan"
feeds = ["http://feeds.feedburner.test/rsscna/engnews"]
allowed_domains = ["focustaiwan.test"]
article_url_pattern = '^https?://focustaiwan\.test/[a-z-]+/\d{12}$'
publisher = "focus-taiwan"

[[sources]]
name = "kyodo"
listing_pages = ["http://english.kyodonews.test/", "http://english.kyodonews.test/news/asia"]
article_url_pattern = '/articles/-/\d+'
allowed_domains = ["english.kyodonews.test"]
publisher = "kyodo"

[[sources]]
name = "taiwan-news"
listing_pages = ["http://www.taiwannews.test/en/", "http://www.taiwannews.test/en/politics"]
article_url_pattern = '/(en/)?news/\d+$'
allowed_domains = ["www.taiwannews.test"]
publisher = "taiwan-news"

[[sources]]
name = "moved-away"
listing_pages = ["http://moved-away.test/news/"]
article_url_pattern = '/news/\d+$'

[[topics]]
name = "taiwan-japan"
query = '(Taiwan OR Taiwanese OR Taipei OR 台灣 OR 台北 OR 台日 OR 日台) AND (Japan OR Japanese OR Tokyo OR 日本 OR 東京 OR 台日 OR 日台)'

[[topics]]
name = "semiconductors"
query = 'semiconductor* OR chip* OR TSMC'
min_score = 3

[[digests]]
name = "morning"
to = ["analyst@example.org"]
timezone = "Asia/Taipei"
TOML

export KUROSHIO_DATA_DIR="$work/data"
"$venv/bin/kuroshio" --config "$work/kuroshio.toml" crawl >"$work/crawl.out" 2>&1 \
    || { cat "$work/crawl.out" >&2; exit 1; }
"$venv/bin/kuroshio" --config "$work/kuroshio.toml" digest morning --dry-run --out "$work/digest.html"

mkdir -p "$(dirname "$output")"
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --user-data-dir="$work/chromium" \
    --screenshot="$output" --window-size=900,1400 "file://$work/digest.html" >"$work/chromium.log" 2>&1 \
    || { cat "$work/chromium.log" >&2; exit 1; }
echo "preview-digest: wrote $output"
