#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: system packages, a virtual environment, workprint itself.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is already there).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

apt_packages=(xvfb xdotool openbox xterm x11-utils x11-xserver-utils wmctrl python3-venv python3-tk
  fonts-dejavu-core tesseract-ocr)
if [ "${WORKPRINT_TEST_DEPS:-0}" = 1 ]; then apt_packages+=(chromium trayer at-spi2-core dbus-daemon python3-gi gir1.2-gtk-3.0); fi  # trayer: a real system tray for the indicator tests; AT-SPI bus + a GTK form for the password-field tests

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.workprint-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing workprint and its dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
