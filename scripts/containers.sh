#!/usr/bin/env bash
# A local container engine for docker.run's tests: Podman serving the Docker Engine API on a Unix socket,
# and a local image with `sh` and `python3` built from this machine's files (no registry is reachable).
#
#   scripts/containers.sh install          apt-get install podman, runc and busybox-static when missing
#   scripts/containers.sh image NAME       build image NAME (busybox + the system python3) unless it exists
#   scripts/containers.sh serve SOCKET     run `podman system service` on unix://SOCKET (foreground)
#
# Podman runs with `--runtime runc` (crun needs cgroup features this kind of machine lacks). Errors go to
# stderr with exit status 1.
set -euo pipefail

die() {
    echo "containers.sh: $*" >&2
    exit 1
}

install() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    [[ -x /bin/busybox ]] || missing+=(busybox-static)
    [[ -x /usr/bin/python3 ]] || missing+=(python3-minimal)
    ((${#missing[@]} == 0)) && return 0
    [[ "$(id -u)" == 0 ]] || die "${missing[*]} not installed and installing needs root (apt-get install ${missing[*]})"
    command -v apt-get >/dev/null 2>&1 || die "${missing[*]} not installed and there is no apt-get to install them"
    echo "containers.sh: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    local log
    log="$(mktemp)"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$log"
}

libs_of() { # the shared libraries the given ELF files load
    ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u
}

podman_() {
    podman --runtime runc "$@"
}

image() {
    local name="$1"
    install
    podman_ image exists "$name" && return 0
    local root
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' RETURN
    mkdir -p "$root"/{bin,usr/bin,tmp,etc,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
        [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
    done
    # python3 with its shared libraries and standard library (no tests, no site-packages)
    local py version
    py="$(readlink -f /usr/bin/python3)"
    version="$(basename "$py")"
    cp "$py" "$root/usr/bin/$version"
    ln -s "$version" "$root/usr/bin/python3"
    local lib
    for lib in $(libs_of "$py"); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    mkdir -p "$root/usr/lib"
    tar -C /usr/lib --exclude="$version/test" --exclude="$version/site-packages" \
        --exclude="$version/dist-packages" --exclude='__pycache__' -cf - "$version" | tar -C "$root/usr/lib" -xf -
    if [[ -d "/usr/lib/$version/lib-dynload" ]]; then
        for lib in $(libs_of "/usr/lib/$version"/lib-dynload/*.so); do
            [[ -e "$root$lib" ]] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
    fi
    echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
    echo "root:x:0:" >"$root/etc/group"
    tar -C "$root" -cf - . | podman_ import --change 'CMD ["/bin/sh"]' \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$name" >/dev/null
}

serve() {
    local socket="$1"
    install
    exec podman --runtime runc system service --time 0 "unix://$socket"
}

case "${1:-}" in
install) install ;;
image) [[ $# == 2 ]] || die "usage: containers.sh image NAME"; image "$2" ;;
serve) [[ $# == 2 ]] || die "usage: containers.sh serve SOCKET"; serve "$2" ;;
*) die "usage: containers.sh install | image NAME | serve SOCKET" ;;
esac
