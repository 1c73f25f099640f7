#!/bin/sh
# Adds this unpacked ClassKit folder to your desktop menu and your PATH (for you only, no
# root needed): a .desktop entry, the icon, and ~/.local/bin/classkit + classkit-gui links.
#   ./install.sh              install (run again after moving the folder)
#   ./install.sh --uninstall  remove those entries (your projects and settings are kept)
set -eu
here=$(dirname "$(readlink -f "$0")")
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=$HOME/.local/bin
desktop=$data/applications/classkit.desktop
icon_png=$data/icons/hicolor/256x256/apps/classkit.png
icon_svg=$data/icons/hicolor/scalable/apps/classkit.svg

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$desktop" "$icon_png" "$icon_svg"
  for name in classkit classkit-gui; do
    # only our own links, never someone else's classkit
    if [ -L "$bin/$name" ] && [ "$(readlink "$bin/$name")" = "$here/$name" ]; then rm -f "$bin/$name"; fi
  done
  echo "ClassKit's menu entry and links are removed; this folder can be deleted."
  exit 0
fi

mkdir -p "$data/applications" "$(dirname "$icon_png")" "$(dirname "$icon_svg")" "$bin"
sed "s|@BUNDLE@|$here|g" "$here/share/applications/classkit.desktop" > "$desktop.tmp"
mv "$desktop.tmp" "$desktop"
cp "$here/share/icons/classkit.png" "$icon_png"
cp "$here/share/icons/classkit.svg" "$icon_svg"
ln -sfn "$here/classkit" "$bin/classkit"
ln -sfn "$here/classkit-gui" "$bin/classkit-gui"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "ClassKit is in your desktop menu; 'classkit' and 'classkit-gui' are in $bin"
case ":$PATH:" in *":$bin:"*) ;; *) echo "(add $bin to your PATH to run them by name)";; esac
