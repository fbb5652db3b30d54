#!/usr/bin/env bash
# Installs the Debian packages changegate's build, tests and demo need, when they are missing.
# --packaging: also what `make deb` and the clean-machine test need (debhelper, lintian, debootstrap, nspawn).
set -euo pipefail
# postgresql: the PostgreSQL queue's tests start throw-away clusters with its initdb, pg_ctl and psql.
packages=(libsqlite3-dev libsystemd-dev sqlite3 pkg-config systemd util-linux procps curl ca-certificates openssl python3 postgresql iproute2)
if [[ ${1:-} == --packaging ]]; then
  packages+=(debhelper dpkg-dev fakeroot lintian debootstrap systemd-container debian-archive-keyring)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "changegate: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "changegate: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null; then
  if [[ -x /opt/swift/usr/bin/swift ]]; then
    echo "changegate: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "changegate: Swift 6 is needed (https://www.swift.org/install/linux/)" >&2
  fi
  exit 1
fi
