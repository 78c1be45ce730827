#!/usr/bin/env bash
# Makes sure the openssl command is installed: the PKI tests check our
# certificates, CRLs and OCSP answers against it. Installs it with apt when
# missing and we are root (a CI machine).
set -euo pipefail

if command -v openssl >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-openssl: openssl is not installed and we are not root to install it; install it (apt-get install openssl)" >&2
  exit 1
fi
echo "ensure-openssl: installing openssl with apt"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openssl >/dev/null
command -v openssl >/dev/null || { echo "ensure-openssl: installation failed" >&2; exit 1; }
