#!/usr/bin/env bash
# The report test renders report.html in headless Chromium. Install Debian's chromium
# and chromium-driver when they are missing and apt is usable; otherwise the test skips
# with a reason.
set -u
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing chromium and chromium-driver for the report test" >&2
  if ! apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
      || echo "Could not install chromium: the browser test will be skipped" >&2
  fi
fi
exit 0
