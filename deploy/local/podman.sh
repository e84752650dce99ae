#!/usr/bin/env bash
# Shared by deploy/local/images and deploy/local/container-smoke: a podman that works on the
# project's machines. Sourced after services.sh (for apt_install and SUDO).
#   ensure_podman   installs podman and runc when absent; returns 1 when they cannot be installed
#   pm ARGS...      podman with the two settings these machines need:
#     --runtime /usr/sbin/runc   the kernel's cgroups are in hybrid mode, which crun (podman's
#                                default on Debian) refuses to run containers under;
#     CONTAINERS_CONF            deploy/local/containers.conf, whose empty default_ulimits stops
#                                podman asking for more open files than the hard limit allows.

podman_conf="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf"

ensure_podman() {
    if ! command -v podman >/dev/null 2>&1 || [ ! -x /usr/sbin/runc ]; then
        echo "images: apt-get install podman runc"
        apt_install podman runc || return 1
    fi
    command -v podman >/dev/null 2>&1 && [ -x /usr/sbin/runc ]
}

pm() {
    $SUDO env CONTAINERS_CONF="$podman_conf" podman --runtime /usr/sbin/runc "$@"
}
