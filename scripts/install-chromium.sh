#!/usr/bin/env bash
# Installs Debian's Chromium for the report's browser test, if missing. The test drives it with
# playwright-core (executablePath /usr/bin/chromium); no browser is ever downloaded by npm.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "install-chromium: needs root (apt-get install chromium)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
