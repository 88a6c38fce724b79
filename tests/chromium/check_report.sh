#!/usr/bin/env bash
# Opens an HTML report in headless Chromium: writes a screenshot, the DOM after load, and
# Chromium's log. Installs Debian's `chromium` when it is missing (as root, via apt-get).
# The report runs no script (its Content-Security-Policy forbids it), so the page is opened twice:
# as it is (its log must show no CSP violation: everything it needs is allowed), and as a copy
# beside it with check_page.js injected and script allowed, whose DOM records images and errors.
# Usage: check_report.sh REPORT.html OUT_DIR
# Exit codes: 0 ran (the caller checks the files), 77 Chromium unavailable (skip), other: failure.
set -u
report="$1"
out="$2"
mkdir -p "$out"

find_chromium() {
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

bin="$(find_chromium)"
if [ -z "$bin" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium missing: installing Debian's chromium package" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get update -qq >"$out/apt.log" 2>&1 &&
      timeout 900 apt-get install -y -qq chromium >>"$out/apt.log" 2>&1
    bin="$(find_chromium)"
  fi
fi
if [ -z "$bin" ]; then
  echo "SKIP: Chromium is not installed and could not be installed (needs root and apt access to Debian)" >&2
  exit 77
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
  --no-first-run --disable-sync --disable-dev-shm-usage --user-data-dir="$profile"
  --enable-logging=stderr --v=0 --virtual-time-budget=10000)
here="$(cd "$(dirname "$0")" && pwd)"
original="file://$(realpath "$report")"
timeout 180 "$bin" "${flags[@]}" --dump-dom "$original" >"$out/original_dom.html" 2>"$out/original.log" ||
  { echo "chromium --dump-dom failed, see $out/original.log" >&2; exit 1; }
# Chromium words it "... violates the following Content Security Policy directive" (older
# versions: "Refused to ...").
if grep -Eq "Content Security Policy|Refused to" "$out/original.log"; then
  echo "the report's Content-Security-Policy blocked something it needs:" >&2
  grep -E "Content Security Policy|Refused to" "$out/original.log" >&2
  exit 1
fi
checked="$(dirname "$(realpath "$report")")/.awmt-check-$(basename "$report")"
trap 'rm -rf "$profile" "$checked"' EXIT
# The copy: script allowed by its CSP, check_page.js inlined right after <head>.
sed -e "s/script-src 'none'/script-src 'unsafe-inline'/" \
  -e "/<head>/r /dev/stdin" "$report" > "$checked" <<EOF_JS
<script>
$(cat "$here/check_page.js")
</script>
EOF_JS
url="file://$checked"
timeout 180 "$bin" "${flags[@]}" --window-size=1280,1800 --screenshot="$out/screenshot.png" "$url" \
  >"$out/screenshot.log" 2>&1 || { echo "chromium screenshot failed, see $out/screenshot.log" >&2; exit 1; }
timeout 180 "$bin" "${flags[@]}" --dump-dom "$url" >"$out/dom.html" 2>"$out/dom.log" ||
  { echo "chromium --dump-dom failed, see $out/dom.log" >&2; exit 1; }
echo "chromium: $("$bin" --version 2>/dev/null)" >&2
exit 0
