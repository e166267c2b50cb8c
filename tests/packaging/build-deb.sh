#!/bin/sh
# Builds the Debian package from a temporary copy of this tree (packaging/debian becomes
# debian/), then prints its file list (dpkg -c) and lintian's verdict. Opt-in: it compiles
# tlsgate once more in Release mode (a few minutes on 2 cores), so it is not in ctest.
#   tests/packaging/build-deb.sh [OUTDIR]     (default OUTDIR: build-deb/ in this tree)
# Needs: apt-get install debhelper lintian (and packaging/build-deps.txt).
# Exit status: non-zero when the build fails or lintian reports an error or a warning.
set -eu
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
out_dir=${1:-$source_dir/build-deb}
version=$(dpkg-parsechangelog -l "$source_dir/packaging/debian/changelog" -S Version)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tlsgate-$version
mkdir -p "$tree" "$out_dir"
# The files git knows about (committed or not, ignored ones left out): no build trees.
(cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 tar cf - --ignore-failed-read) | tar xf - -C "$tree"
cp -r "$tree/packaging/debian" "$tree/debian"
start=$(date +%s)
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=${JOBS:-2}" dpkg-buildpackage -us -uc -b) \
    > "$out_dir/build.log" 2>&1 || { tail -50 "$out_dir/build.log"; exit 1; }
echo "dpkg-buildpackage: $(($(date +%s) - start)) s (log: $out_dir/build.log)"
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out_dir/"
deb=$(ls "$out_dir"/tlsgate_"$version"_*.deb)
echo "== dpkg -c $(basename "$deb")"
dpkg -c "$deb"
echo "== dpkg -I $(basename "$deb")"
dpkg -I "$deb"
echo "== lintian --info --display-info --pedantic"
# The overrides live in the package (debian/tlsgate.lintian-overrides); lintian reports
# them as overridden (O:) lines.
lintian --info --display-info --pedantic --show-overrides "$deb" | tee "$out_dir/lintian.txt"
if grep -E '^[EW]: ' "$out_dir/lintian.txt" >/dev/null; then
    echo "lintian: errors or warnings (above)"
    exit 1
fi
echo "lintian: no errors or warnings"
