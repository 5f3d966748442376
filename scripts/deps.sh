#!/usr/bin/env bash
# Installs the Debian packages arena386 needs to build, boot and test, when
# one is missing.  As root it runs apt-get; otherwise it prints the one
# apt-get line to run.  Extra package names may be passed as arguments.
set -eu

packages=()
need() { # need PACKAGE CHECK-COMMAND...
	local pkg=$1
	shift
	"$@" >/dev/null 2>&1 || packages+=("$pkg")
}

need make command -v make
need gcc-multilib test -e "$(gcc -m32 -print-libgcc-file-name 2>/dev/null || echo /nonexistent)"
need qemu-system-x86 command -v qemu-system-i386
need grub-common command -v grub-mkrescue
need grub-pc-bin test -d /usr/lib/grub/i386-pc
need xorriso command -v xorriso
need mtools command -v mformat
need python3 command -v python3
# make map's renderer (tools/render_map.py), and its test in make test:
# Debian's own python3 with its matplotlib.
need python3-matplotlib /usr/bin/python3 -c "import matplotlib"
need gdb command -v gdb # make debug, and the gdb helpers' test
for extra in "$@"; do
	need "$extra" dpkg -s "$extra"
done

[ ${#packages[@]} -eq 0 ] && exit 0

line="apt-get install -y ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "arena386 needs: ${packages[*]}" >&2
	echo "run as root:  apt-get update && $line" >&2
	exit 1
fi
echo "deps: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${packages[@]}"
