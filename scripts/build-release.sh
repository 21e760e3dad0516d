#!/usr/bin/env bash
# Builds the plugin as it was at git revision REV into OUT, once (cached by
# revision): the upgrade tests make pods with it and check and delete them
# with the current build. Needs the revision in the clone's history.
set -euo pipefail
rev=$1 out=$2
[ -x "$out" ] && exit 0
cd "$(dirname "$0")/.."
git cat-file -e "$rev^{commit}" 2>/dev/null || { echo "build-release: revision $rev is not in this clone's history" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$rev" | tar -x -C "$tmp"
(cd "$tmp" && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.Version=$rev" -o "$tmp/qinq" ./plugins/main/qinq)
mv "$tmp/qinq" "$out"
