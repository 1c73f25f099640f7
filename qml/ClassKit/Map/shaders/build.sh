#!/usr/bin/env bash
# Rebuild the scatter-point shaders (.qsb) from their GLSL sources. Only needed after
# editing points.vert/points.frag: the compiled .qsb files are committed.
# The qsb tool ships in PySide6-Addons (PySide6-Essentials has only the pyside6-qsb
# wrapper): `pip install PySide6-Addons` then run this, or point QSB at a qsb binary.
set -euo pipefail
cd "$(dirname "$0")"
QSB="${QSB:-pyside6-qsb}"
for s in points.vert points.frag; do
    "$QSB" --glsl "100 es,120,150" --hlsl 50 --msl 12 -o "$s.qsb" "$s"
done
echo "built: $(ls ./*.qsb | tr '\n' ' ')"
