#!/usr/bin/env bash
# `make dist-test`: prove the built bundle runs on its own.
#
# Unpacks dist/classkit-*.tar.gz into a fresh folder and runs it with an empty environment
# (no venv, no PYTHONPATH, a fresh HOME, working folder outside the repository) and, where
# the kernel allows it, no network (unshare -n): --version, the whole CLI loop on a small
# image folder, the desktop app offscreen drawing that project's map (screenshot checked by
# pixel), the launcher and install.sh; finally that nothing was written inside the bundle.
# Prints JSON lines (sizes, timings); exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# Argument: the archive (default: the newest in dist/) or an unpacked bundle folder (copied).
archive=${1:-$(ls -t dist/classkit-*-linux-*.tar.gz 2>/dev/null | head -1)}
[ -n "$archive" ] && [ -e "$archive" ] || { echo "dist-test: no bundle archive in dist/ (run make dist)" >&2; exit 1; }
# A Python outside the venv, only to check results (stdlib, isolated mode -I).
SYSPY=${SYSPY:-/usr/bin/python3}
[ -x "$SYSPY" ] || SYSPY=$(PATH=/usr/local/bin:/usr/bin:/bin command -v python3)

work=$(mktemp -d "${TMPDIR:-/tmp}/classkit-dist-test.XXXXXX")
trap '[ -n "${DIST_TEST_KEEP:-}" ] && echo "dist-test: kept $work" >&2 || rm -rf "$work"' EXIT
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(date +%s.%N)
if [ -d "$archive" ]; then cp -a "$archive" "$work/"; else tar -C "$work" -xzf "$archive"; fi
unpack_s=$(elapsed "$t0")
bundle=$(ls -d "$work"/classkit-*/)
bundle=${bundle%/}
home=$work/home
mkdir -p "$home" "$work/run"
touch "$work/marker"
sleep 1  # mtime resolution: anything written into the bundle from now on is newer

if unshare -n true 2>/dev/null; then NET=(unshare -n)
elif unshare -rn true 2>/dev/null; then NET=(unshare -rn)
else NET=(); echo "dist-test: cannot unshare the network here; running with it" >&2; fi

# A user with nothing else installed: an empty environment and the test HOME.
USER_ENV=(env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8)
ck() {
  (cd "$work/run" && "${USER_ENV[@]}" QT_QPA_PLATFORM=offscreen ${NET[@]+"${NET[@]}"} "$bundle/classkit" "$@")
}
step() { echo "dist-test: $*" >&2; }
fail() { echo "dist-test: FAILED: $*" >&2; exit 1; }
json_get() { "$SYSPY" -I -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }

step "version"
ck --version | grep -q "^classkit [0-9]" || fail "classkit --version"

step "demo data (and the demo pipeline)"
t=$(date +%s.%N)  # a first run: numba compiles every kernel the loop uses (cached after)
ck demo "$work/demo" > "$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; fail "classkit demo"; }
demo_cold_s=$(elapsed "$t")
data=$work/demo/data

P=$work/proj
step "init, ingest"
ck init "$P" --classes circle,square,triangle >/dev/null
ck ingest "$P" "$data/shapes" --json > "$work/ingest1.json"
ck ingest "$P" "$data/unsorted" --json > "$work/ingest2.json" || true  # broken files: reported, not fatal
n=$(ck status "$P" --json | "$SYSPY" -I -c 'import json,sys; print(json.load(sys.stdin)["images"])')
[ "$n" -ge 120 ] || fail "expected at least 120 images ingested, got $n"

step "embed, index, map, cluster"
ck embed "$P" >/dev/null
ck index "$P" >/dev/null
ck map "$P" >/dev/null
ck cluster "$P" >/dev/null

step "select (cold start)"
ck select "$P" --budget 10 --json > "$work/select0.json"
[ "$(json_get "$work/select0.json" 'len(d["items"])')" -eq 10 ] || fail "cold-start batch size"

step "label, train, predict, select"
{
  echo "path,label"
  for c in circle square triangle; do
    for f in "$data/shapes/$c/${c}"_01[0-9].jpg "$data/shapes/$c/${c}"_00[0-9].jpg; do echo "$f,$c"; done
  done
} > "$work/labels.csv"
ck label "$P" --csv "$work/labels.csv" >/dev/null
ck train "$P" --json > "$work/train.json"
ck predict "$P" --out "$work/predictions.csv" >/dev/null
head -1 "$work/predictions.csv" | grep -q "^id,path,predicted,confidence" || fail "predictions.csv header"
[ "$(wc -l < "$work/predictions.csv")" -gt 50 ] || fail "predictions.csv rows"
ck select "$P" --budget 10 --json > "$work/select1.json"
[ "$(json_get "$work/select1.json" 'len(d["items"])')" -eq 10 ] || fail "batch size after training"

step "export"
for fmt in imagefolder csv parquet ultralytics; do
  ck export "$P" --format "$fmt" --out "$work/exports/$fmt" >/dev/null
done
[ -n "$(find "$work/exports/imagefolder" -name '*.jpg' | head -1)" ] || fail "imagefolder export has no images"
[ -n "$(find "$work/exports/parquet" -name '*.parquet' | head -1)" ] || fail "no parquet file"

step "desktop app offscreen: open the project, draw the map, screenshot"
gui_times=()
for run in cold warm; do
  t=$(date +%s.%N)
  ck gui "$P" --screenshot "$work/shot-$run.png" > "$work/gui-$run.json" 2> "$work/gui-$run.err" \
    || { cat "$work/gui-$run.err" >&2; fail "classkit gui --screenshot ($run)"; }
  gui_times+=("$(elapsed "$t")")
  [ "$(json_get "$work/gui-$run.json" 'd["map_status"]')" = ready ] || fail "map not ready ($run)"
done
colors=$(ck classes "$P" --json | "$SYSPY" -I -c 'import json,sys; print(",".join(c["color"] for c in json.load(sys.stdin)["classes"]))')
"$SYSPY" -I "$REPO/scripts/png_stats.py" "$work/shot-warm.png" --colors "$colors" > "$work/png.json"
# 60 images are labeled (20 per class) and the map is coloured by label: each labeled point
# is ~20 px of its class colour, each legend swatch ~100 px. Demand clearly more than the
# legend alone: an empty or undrawn map fails.
"$SYSPY" -I -c '
import json, sys
d = json.load(open(sys.argv[1]))
near = d["near"]
assert d["distinct_colors"] > 50 and d["top_color_share"] < 0.9, d
assert sum(near.values()) >= 800 and min(near.values()) >= 60, f"class colours barely drawn: {near}"
' "$work/png.json" || fail "the screenshot does not show the map: $(cat "$work/png.json")"

if command -v xvfb-run >/dev/null 2>&1; then
  step "desktop app on a (virtual) X display: the bundled xcb platform plugin"
  (cd "$work/run" && "${USER_ENV[@]}" QSG_RENDER_LOOP=basic \
     xvfb-run -a -s "-screen 0 1400x900x24" "$bundle/classkit-gui" "$P" --screenshot "$work/shot-x11.png" \
     > "$work/gui-x11.json" 2> "$work/gui-x11.err") || { cat "$work/gui-x11.err" >&2; fail "classkit-gui under Xvfb"; }
  [ "$(json_get "$work/gui-x11.json" 'd["map_status"]')" = ready ] || fail "map not ready under Xvfb"
fi

step "install.sh: menu entry, icon, links (into the test HOME)"
("${USER_ENV[@]}" "$bundle/install.sh" >/dev/null)
desktop=$home/.local/share/applications/classkit.desktop
grep -q "^Exec=\"$bundle/classkit-gui\" %f" "$desktop" || fail "desktop entry Exec line"
[ -f "$home/.local/share/icons/hicolor/256x256/apps/classkit.png" ] || fail "icon not installed"
(cd "$work/run" && "${USER_ENV[@]}" "$home/.local/bin/classkit" --version >/dev/null) \
  || fail "classkit through the ~/.local/bin link"
("${USER_ENV[@]}" "$bundle/install.sh" --uninstall >/dev/null)
[ ! -e "$desktop" ] && [ ! -e "$home/.local/bin/classkit" ] || fail "uninstall left files"

step "nothing written inside the bundle; user data in the standard places"
written=$(find "$bundle" -newer "$work/marker" | head -5)
[ -z "$written" ] || fail "files written inside the bundle: $written"
[ -n "$(find "$home/.cache/classkit/numba" -type f 2>/dev/null | head -1)" ] || fail "no numba cache in ~/.cache/classkit"
[ ! -e "$home/.cache/numba" ] || fail "numba cached by working folder in ~/.cache/numba"
# The kernels compiled once are reused from any working folder: nothing new is compiled.
before=$(find "$home/.cache/classkit/numba" -type f | wc -l)
t=$(date +%s.%N)
(mkdir -p "$work/elsewhere" && cd "$work/elsewhere" && "${USER_ENV[@]}" \
   "$bundle/classkit" select "$P" --budget 10 --json >/dev/null) || fail "select from another folder"
select_warm_s=$(elapsed "$t")
[ "$(find "$home/.cache/classkit/numba" -type f | wc -l)" -eq "$before" ] || fail "kernels compiled again"
[ -f "$home/.local/state/classkit/classkit-gui.log" ] || fail "no app log in ~/.local/state/classkit"

printf '{"bench": "dist-test", "archive": "%s", "unpack_s": %.1f, "unpacked_mb": %d, "network": "%s", "gui_cold_s": %.2f, "gui_warm_s": %.2f, "demo_cold_s": %.1f, "select_warm_s": %.2f, "gui_json": %s}\n' \
  "$(basename "$archive")" "$unpack_s" "$(du -sm "$bundle" | cut -f1)" "${NET[*]:-shared}" \
  "${gui_times[0]}" "${gui_times[1]}" "$demo_cold_s" "$select_warm_s" "$(cat "$work/gui-cold.json")"
echo "dist-test: OK" >&2
