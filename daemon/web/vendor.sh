#!/usr/bin/env bash
# Rebuilds daemon/web/vendor/ (the desk map's library and outlines) from package.json and
# package-lock.json: a clean `npm ci` in a temporary directory, then outlines.mjs. The output
# is deterministic; CI checks it with `bash daemon/web/vendor.sh && git diff --exit-code
# daemon/web/vendor`. The files are committed: building farod needs no npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
nm="$tmp/node_modules"

rm -rf "$out"
mkdir -p "$out"
cp "$nm/leaflet/dist/leaflet.js" "$out/leaflet.js"
cp "$nm/leaflet/dist/leaflet.css" "$out/leaflet.css"
node "$here/outlines.mjs" "$nm" "$out/outlines.json"

version() { node -p "require(process.argv[1]).version" "$nm/$1/package.json"; }

{
  echo "# Vendored files and their licences"
  echo
  echo "Made by \`vendor.sh\` from \`package-lock.json\`; do not edit by hand."
  echo
  echo "| file | from | licence |"
  echo "| --- | --- | --- |"
  echo "| leaflet.js, leaflet.css | leaflet $(version leaflet) | BSD-2-Clause (below) |"
  echo "| outlines.json | Natural Earth 1:10m admin-0 countries, via world-atlas $(version world-atlas), converted with topojson-client $(version topojson-client) | Natural Earth: public domain; world-atlas and topojson-client: ISC (below) |"
  echo
  echo "Natural Earth (https://www.naturalearthdata.com/about/terms-of-use/): \"All versions of"
  echo "Natural Earth raster + vector map data found on this website are in the public domain.\""
  for p in leaflet world-atlas topojson-client; do
    echo
    echo "## $p $(version "$p")"
    echo
    echo '```'
    cat "$nm/$p/LICENSE"*
    echo '```'
  done
} >"$out/LICENSES.md"
