#!/usr/bin/env bash
# One-command setup from a fresh clone: a virtual environment in .venv with ovrecipes, its embedded
# defaults and test tools, plus the embedded data archive. Re-running it is cheap (pip skips what is there).
#   bash scripts/setup.sh            # then: .venv/bin/ovrecipes demo
# PYTHON=python3.11 picks the interpreter; OVRECIPES_SKIP_FETCH=1 skips the data download.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# Debian packages: festival + the SLT HTS voice and flite speak the embedded Whisper test sentences,
# festival's KED diphone voice (festvox-kdlpc16k) the validation set recipe choices are scored on;
# alsa-utils ships 8 real human clips. Installed only when missing.
DEB_PACKAGES="festival festvox-us-slt-hts festvox-kdlpc16k flite alsa-utils"
if command -v apt-get >/dev/null 2>&1 && ! dpkg -s $DEB_PACKAGES >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $DEB_PACKAGES >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch 2.14.1 + torchvision 0.29.1 is the pair that imports together with optimum-intel 2.2.
"${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
"${PIP[@]}" -e ".[embedded,peers,test]"
if [ -z "${OVRECIPES_SKIP_FETCH:-}" ]; then
  .venv/bin/python -c "from ovrecipes.pipelines.text_data import vader_archive; print('embedded data:', vader_archive())"
fi
echo "ovrecipes is set up in .venv: run '.venv/bin/ovrecipes demo' or '.venv/bin/python -m pytest'"
