# Shared by scripts/check and scripts/demo: install what is missing, build.
# Sourced, not run.

TRESOR_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${TRESOR_BUILDDIR:=$TRESOR_SRCDIR/build}"
# The shared test corpus beside the repository (never copied into it).
: "${TRESOR_TESTDATA:=$(cd "$TRESOR_SRCDIR/.." && pwd)/shared/testdata}"
export TRESOR_TESTDATA

# tresor_debian_packages RELEASE: the Debian packages (of bookworm, 12, or
# trixie, 13) the build, the tests, the demo, the benchmarks and the Debian
# package (scripts/package: debhelper, dpkg-dev, lintian) need. The FTS
# baselines differ: 12 has fts-lucene, 13 Dovecot's own fts-flatcurve.
tresor_debian_packages() {
	echo "build-essential autoconf automake libtool pkg-config
 dovecot-dev dovecot-core dovecot-imapd dovecot-lmtpd dovecot-sieve
 libssl-dev libsqlite3-dev nlohmann-json3-dev libgtest-dev libpsl-dev
 libicu-dev libpugixml-dev libpoppler-cpp-dev poppler-utils
 libzip-dev zlib1g-dev libxapian-dev dovecot-fts-xapian
 python3 openssl time debhelper dpkg-dev lintian debootstrap"
	case $1 in
	bookworm) echo " dovecot-lucene" ;;
	*) echo " dovecot-flatcurve" ;;
	esac
}
TRESOR_DEBIAN_RELEASE=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")
TRESOR_DEBIAN_PACKAGES=$(tresor_debian_packages "$TRESOR_DEBIAN_RELEASE")

tresor_install_deps() {
	local missing=() pkg
	for pkg in $TRESOR_DEBIAN_PACKAGES; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
			|| missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Installing dovecot-core must not start the system's Dovecot.
	local policy=/usr/sbin/policy-rc.d created_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
	fi
	apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	local rc=$?
	[ -n "$created_policy" ] && rm -f "$policy"
	return $rc
}

# tresor_autoreconf: makes the build system (configure, Makefile.in) when
# it is missing or older than its sources. Also before building in a
# Debian root, whose autotools may be another version.
tresor_autoreconf() {
	(
		cd "$TRESOR_SRCDIR" || exit 1
		if [ ! -x configure ] || [ configure.ac -nt configure ] ||
			[ -n "$(find Makefile.am src tests -name Makefile.am -newer Makefile.in -o -name local.mk -newer Makefile.in | head -n 1)" ]; then
			autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
		fi
	)
}

# tresor_build [BUILDDIR [CONFIGURE-OPTION...]]: builds out of tree in
# BUILDDIR (default $TRESOR_BUILDDIR), configured with the options when it
# has no Makefile yet, and the unit test binary with it.
tresor_build() {
	local dir=${1:-$TRESOR_BUILDDIR} jobs
	[ $# -gt 0 ] && shift
	jobs=$(nproc 2>/dev/null || echo 2)
	(
		set -e
		tresor_autoreconf
		cd "$TRESOR_SRCDIR"
		mkdir -p "$dir"
		cd "$dir"
		if [ ! -f Makefile ]; then
			"$TRESOR_SRCDIR/configure" --quiet "$@"
		fi
		make -s -j"$jobs"
		make -s -j"$jobs" check TESTS= >/dev/null
	)
}

# The Debian mirror apt uses on this machine (deb822 or one-line sources).
tresor_debian_mirror() {
	local uri
	uri=$(sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
	[ -z "$uri" ] && uri=$(sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]].*/\2/p' \
		/etc/apt/sources.list 2>/dev/null | grep -v security | head -n 1)
	echo "${uri:-http://deb.debian.org/debian}"
}

# tresor_debian_root RELEASE DIR PACKAGE...: a minimal Debian root of
# RELEASE in DIR with the packages installed (services not started),
# made with debootstrap from the mirror apt uses and kept between runs:
# DIR/.tresor-ready lists what it was made with. Returns 1 on failure.
tresor_debian_root() {
	local release=$1 dir=$2 want
	shift 2
	want="$release $*"
	if [ -f "$dir/.tresor-ready" ] && [ "$(cat "$dir/.tresor-ready")" = "$want" ]; then
		return 0
	fi
	# the same release with other packages: install them (apt leaves
	# what is there), else make the root afresh
	if [ -f "$dir/.tresor-ready" ] && [ "$(cut -d' ' -f1 "$dir/.tresor-ready")" = "$release" ] &&
		tresor_chroot "$dir" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $*" \
			>"$dir.apt.log" 2>&1; then
		echo "$want" >"$dir/.tresor-ready"
		return 0
	fi
	command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null || return 1
	# never remove what is mounted into it (the source tree, /dev)
	tresor_unmount_below "$dir" || return 1
	rm -rf --one-file-system "$dir"
	mkdir -p "$dir"
	debootstrap --variant=minbase "$release" "$dir" "$(tresor_debian_mirror)" \
		>"$dir.debootstrap.log" 2>&1 || { tail -n 20 "$dir.debootstrap.log"; return 1; }
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	tresor_chroot "$dir" sh -c "DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $*" \
		>"$dir.apt.log" 2>&1 || { tail -n 20 "$dir.apt.log"; return 1; }
	echo "$want" >"$dir/.tresor-ready"
}

# tresor_unmount_below DIR: unmounts everything mounted below DIR;
# returns 1 when something stays mounted.
tresor_unmount_below() {
	local dir m
	dir=$(realpath -m "$1")
	for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	! awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts
}

# tresor_chroot DIR COMMAND...: runs COMMAND in DIR with /proc, /dev and
# /dev/pts mounted for it (unmounted afterwards).
tresor_chroot() {
	local dir=$1 rc m
	shift
	mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
	mountpoint -q "$dir/dev" || mount --bind /dev "$dir/dev"
	chroot "$dir" "$@"
	rc=$?
	for m in dev proc; do
		mountpoint -q "$dir/$m" && umount -l "$dir/$m"
	done
	return $rc
}
