#!/usr/bin/env bash
# `make dist`: build the standalone ClassKit bundle (PyInstaller, one folder) and its archive.
#
#   dist/classkit-<version>-linux-<arch>/      the unpacked bundle (classkit, classkit-gui,
#                                              install.sh, share/, _internal/)
#   dist/classkit-<version>-linux-<arch>.tar.gz
#
# Needs the project's venv (make setup) with the CPU torch; installs PyInstaller into it.
# Prints one JSON line with the build time and sizes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=$VENV/bin/python
[ -x "$PY" ] || { echo "build_dist: no venv at $VENV (run make setup)" >&2; exit 1; }

start=$(date +%s)
"$PY" -c 'import PyInstaller' 2>/dev/null || "$PY" -m pip install -q 'pyinstaller>=6.11,<7'
version=$("$PY" -c 'from classkit.engine import __version__; print(__version__)')
arch=$(uname -m)
name=classkit-$version-linux-$arch
stage=build/dist-stage
out=dist/$name

# The project as a normal (non-editable) install, so package data lands as users get it.
rm -rf "$stage" build/lib build/bdist.*
"$PY" -m pip install -q --no-deps --no-build-isolation --target "$stage" . >/dev/null
rm -rf build/lib build/bdist.*

# PYTHONWARNINGS: collecting torch submodules prints hundreds of deprecation notices.
PYTHONWARNINGS=ignore CLASSKIT_STAGE=$PWD/$stage "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath build/pyinstaller-dist --workpath build/pyinstaller-work packaging/classkit.spec

rm -rf "$out" "dist/$name.tar.gz"
mkdir -p dist
mv build/pyinstaller-dist/classkit "$out"
# Symbol tables of the biggest libraries (~100 MB; dynamic symbols stay). Only these: a
# blanket strip breaks libraries auditwheel patched (numpy's OpenBLAS, in *.libs/).
if command -v strip >/dev/null 2>&1; then
  for lib in "$out"/_internal/torch/lib/libtorch_cpu.so "$out"/_internal/torch/lib/libtorch_python.so \
             "$out"/_internal/llvmlite/binding/libllvmlite.so; do
    [ -f "$lib" ] && strip --strip-unneeded "$lib"
  done
fi
install -m 755 packaging/linux/classkit-gui packaging/linux/install.sh "$out/"
mkdir -p "$out/share/applications" "$out/share/icons"
cp packaging/linux/classkit.desktop "$out/share/applications/"
cp qml/ClassKit/icons/classkit.svg qml/ClassKit/icons/classkit.png "$out/share/icons/"
cp packaging/README-bundle.txt "$out/README.txt"
built=$(date +%s)

tar -C dist -czf "dist/$name.tar.gz" "$name"
end=$(date +%s)
unpacked_mb=$(du -sm "$out" | cut -f1)
packed_mb=$(( $(stat -c %s "dist/$name.tar.gz") / 1048576 ))
printf '{"bench": "dist", "bundle": "%s", "build_s": %d, "archive_s": %d, "unpacked_mb": %d, "tar_gz_mb": %d}\n' \
  "$out" $((built - start)) $((end - built)) "$unpacked_mb" "$packed_mb"
