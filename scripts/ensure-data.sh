#!/usr/bin/env bash
# Make sure the four Fashion-MNIST files are present and verified.
# Order: already there (any place the package looks) -> Debian package via apt (when
# we are root and apt works) -> download from the official mirror into the user cache.
set -u
cli=${1:-fashion-cluster}

"$cli" data --quiet && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Fashion-MNIST not found: installing the Debian package dataset-fashion-mnist" >&2
  if ! apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1
  fi
  "$cli" data --quiet && exit 0
fi

echo "Trying to download Fashion-MNIST from the official mirror" >&2
"$cli" data --fetch && exit 0

cat >&2 <<'MSG'
Could not find or fetch Fashion-MNIST. Do one of:
  - as root: apt-get update && apt-get install -y dataset-fashion-mnist
  - download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist
    into a folder and set FASHION_MNIST_DIR=/that/folder
MSG
exit 1
