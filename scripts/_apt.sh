# Sourced by the scripts that install a server package for the tests (postgres, promtool).

# apt_install_quietly PACKAGE: install a Debian/Ubuntu package without letting it start
# its system-wide service (ours are throwaway and per run). A policy-rc.d that is already
# there, e.g. in a container image, is left alone. A failed install is retried once after
# `apt-get update` (a fresh image has no package lists).
#
# Installs are serialized: parallel test workers may each find the same binary missing at
# once (and other processes may hold dpkg's lock), so one installs while the others wait on
# a lock file, then find the package there; apt-get itself waits for dpkg's lock.
APT_LOCK=/tmp/daytwo-apt-install.lock

apt_install_quietly() {
    local package=$1
    if command -v flock >/dev/null; then
        (
            flock -w 900 9 || { echo "waited 15 minutes for $APT_LOCK" >&2; exit 1; }
            _apt_install "$package"
        ) 9>"$APT_LOCK"
    else
        _apt_install "$package"
    fi
}

_apt_install() {
    local package=$1 policy=/usr/sbin/policy-rc.d ours="" status=0
    export DEBIAN_FRONTEND=noninteractive
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        return 0  # installed by whoever held the lock before us
    fi
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        ours=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local wait=(-o DPkg::Lock::Timeout=600)
    if ! apt-get "${wait[@]}" install -y -q --no-install-recommends "$package" >/dev/null; then
        apt-get "${wait[@]}" update -q >/dev/null || true
        apt-get "${wait[@]}" install -y -q --no-install-recommends "$package" >/dev/null || status=$?
    fi
    if [ -n "$ours" ]; then rm -f "$policy"; trap - EXIT; fi
    return "$status"
}
