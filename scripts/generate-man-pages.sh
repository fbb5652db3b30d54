#!/usr/bin/env bash
# Writes changegate.1 and changegate-snowsim.1 into OUT_DIR, generated from the built binaries' own argument
# parser by swift-argument-parser's generate-manual tool (each subcommand is a section of the page, so the page
# says what `--help` says and cannot drift from it). The tool is built from the package's own checkout of
# swift-argument-parser, the version the binaries use. The date is the last commit's, so a rebuild of the same
# tree gives the same pages. Called by scripts/build-deb.sh; usage: generate-man-pages.sh BIN_DIR OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=${1:?usage: generate-man-pages.sh BIN_DIR OUT_DIR}
out=${2:?usage: generate-man-pages.sh BIN_DIR OUT_DIR}
swift=${SWIFT:-swift}

parser=.build/checkouts/swift-argument-parser
[ -f "$parser/Package.swift" ] || "$swift" package resolve
scratch=.build/generate-manual
"$swift" build --package-path "$parser" --scratch-path "$scratch" --product generate-manual >"$scratch.log" 2>&1 || {
  tail -20 "$scratch.log" >&2
  echo "generate-man-pages: building swift-argument-parser's generate-manual failed; the log is $scratch.log" >&2
  exit 1
}
tool=$("$swift" build --package-path "$parser" --scratch-path "$scratch" --show-bin-path)/generate-manual

date=$(date -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%d)
mkdir -p "$out"
for b in changegate changegate-snowsim; do
  "$tool" "$bin_dir/$b" --output-directory "$out" --date "$date" \
    --authors "changegate maintainers<changegate-maintainers@users.noreply.github.com>"
  [ -s "$out/$b.1" ] || { echo "generate-man-pages: no $out/$b.1 was written" >&2; exit 1; }
  # A blank line in a command's discussion becomes a blank input line, which mdoc warns about: a paragraph.
  sed -i 's/^$/.Pp/' "$out/$b.1"
done
