#!/usr/bin/env bash
# Refresh the web libraries vendored in kgjudge/serve/static/vendor from the npm registry
# (a development-time step; users need neither npm nor a network).
#   scripts/vendor-web.sh            fetch the pinned version and check its checksum
#   scripts/vendor-web.sh 3.36.0     fetch another version (update the README's table and checksum)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-3.35.0}
SHA256=71fa9ebec21a7ca2c40cff6aacc30d1f6464e363662ad4b2c197e1adc770cd94
DEST=kgjudge/serve/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "cytoscape@$VERSION" >/dev/null && tar xzf cytoscape-*.tgz)
cp "$work/package/dist/cytoscape.min.js" "$DEST/cytoscape.min.js"
cp "$work/package/LICENSE" "$DEST/cytoscape.LICENSE"
if [ "$#" -eq 0 ]; then
  echo "$SHA256  $DEST/cytoscape.min.js" | sha256sum --check --quiet
fi
echo "vendored cytoscape $VERSION into $DEST"
