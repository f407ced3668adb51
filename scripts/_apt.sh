# Sourced by the scripts that install a server package for the tests (postgres, promtool).

# apt_install_quietly PACKAGE: install a Debian/Ubuntu package without letting it start
# its system-wide service (ours are throwaway and per run). A policy-rc.d that is already
# there, e.g. in a container image, is left alone. A failed install is retried once after
# `apt-get update` (a fresh image has no package lists).
apt_install_quietly() {
    local package=$1 policy=/usr/sbin/policy-rc.d ours="" status=0
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        ours=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    if ! apt-get install -y -q --no-install-recommends "$package" >/dev/null; then
        apt-get update -q >/dev/null || true
        apt-get install -y -q --no-install-recommends "$package" >/dev/null || status=$?
    fi
    if [ -n "$ours" ]; then rm -f "$policy"; trap - EXIT; fi
    return "$status"
}
