#!/usr/bin/env bash
# Builds changegate_<VERSION>_<arch>.deb and changegate-simulator_<VERSION>_<arch>.deb (and their -dbgsym
# packages) from the static release binaries in $1, with debhelper, in .build/deb/; then runs lintian on
# them and fails on any lintian error. Called by `make deb`, which builds the binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=$(cd "${1:?usage: build-deb.sh RELEASE_BIN_DIR}" && pwd)
src=$(pwd)
version=$(tr -d ' \n' < VERSION)
out=$src/.build/deb
stage=$out/changegate-$version

# Static Swift: ldd must list Debian libraries only (no libswift*, nothing from a toolchain).
for b in changegate changegate-snowsim; do
  if ldd "$bin_dir/$b" | grep -Ei 'swift|not found'; then
    echo "build-deb: $bin_dir/$b links the Swift runtime dynamically; build it with --static-swift-stdlib" >&2
    exit 1
  fi
done

# dpkg-buildpackage writes its results into the parent of the tree it builds: stage one under .build/deb.
rm -rf "$stage" "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$stage"
cp -r debian "$stage/"
# changegate(1) and changegate-snowsim(1), from the binaries' argument parser (debian/*.manpages installs them).
scripts/generate-man-pages.sh "$bin_dir" "$stage/man"
date=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
cat > "$stage/debian/changelog" <<CHANGELOG
changegate ($version) unstable; urgency=medium

  * Release $version (version from the VERSION file of the source tree).

 -- changegate maintainers <changegate-maintainers@users.noreply.github.com>  $date
CHANGELOG

(cd "$stage" && CHANGEGATE_SRC="$src" CHANGEGATE_BIN_DIR="$bin_dir" \
  dpkg-buildpackage --build=binary --no-sign >"$out/build.log" 2>&1) || {
  tail -40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
rm -rf "$stage"

arch=$(dpkg --print-architecture)
echo "build-deb: built"
ls -1 "$out"/*_"$version"_"$arch".*deb | sed 's/^/  /'
# Errors fail the build; the accepted warnings are listed in docs/packaging.md.
lintian --fail-on error --info \
  "$out/changegate_${version}_${arch}.deb" "$out/changegate-simulator_${version}_${arch}.deb" | tee "$out/lintian.log"
echo "build-deb: lintian reports no errors"
