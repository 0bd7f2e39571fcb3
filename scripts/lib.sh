# Shared by scripts/check and scripts/demo: install what is missing, build.
# Sourced, not run.

TRESOR_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${TRESOR_BUILDDIR:=$TRESOR_SRCDIR/build}"
# The shared test corpus beside the repository (never copied into it).
: "${TRESOR_TESTDATA:=$(cd "$TRESOR_SRCDIR/.." && pwd)/shared/testdata}"
export TRESOR_TESTDATA

# Debian 12 packages the build, the tests, the demo and the Debian package
# (scripts/package: debhelper, dpkg-dev) need.
TRESOR_DEBIAN_PACKAGES="build-essential autoconf automake libtool pkg-config
 dovecot-dev dovecot-core dovecot-imapd dovecot-lmtpd dovecot-sieve
 libssl-dev libsqlite3-dev nlohmann-json3-dev libgtest-dev libpsl-dev
 libicu-dev libpugixml-dev libpoppler-cpp-dev poppler-utils
 libzip-dev libxapian-dev dovecot-fts-xapian dovecot-lucene
 python3 openssl debhelper dpkg-dev"

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

# tresor_build [BUILDDIR [CONFIGURE-OPTION...]]: builds out of tree in
# BUILDDIR (default $TRESOR_BUILDDIR), configured with the options when it
# has no Makefile yet, and the unit test binary with it.
tresor_build() {
	local dir=${1:-$TRESOR_BUILDDIR} jobs
	[ $# -gt 0 ] && shift
	jobs=$(nproc 2>/dev/null || echo 2)
	(
		set -e
		cd "$TRESOR_SRCDIR"
		if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
			autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
		fi
		mkdir -p "$dir"
		cd "$dir"
		if [ ! -f Makefile ]; then
			"$TRESOR_SRCDIR/configure" --quiet "$@"
		fi
		make -s -j"$jobs"
		make -s -j"$jobs" check TESTS= >/dev/null
	)
}
