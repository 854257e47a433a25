# Shared by test/run_all.sh, demo.sh and bench/: install what is missing on
# Debian 12, build, install.  Source it; it defines functions only.

LSM_PACKAGES="postgresql-15 postgresql-server-dev-15 libzstd-dev liblz4-dev libicu-dev gcc make libipc-run-perl locales"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# Install the Debian packages lsm_fdw needs, when any is missing.
lsm_install_deps() {
	local missing=() p
	for p in $LSM_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Generate the en_US.UTF-8 locale the collation tests use, when missing
# (needs root; a user's server would have it, or another non-C locale).
lsm_ensure_locale() {
	locale -a 2>/dev/null | grep -qix 'en_US.utf8' && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "locale en_US.UTF-8 is missing; run as root or: localedef -i en_US -f UTF-8 en_US.UTF-8" >&2
		return 1
	fi
	localedef -i en_US -f UTF-8 en_US.UTF-8
}

# Build with warnings as errors and install into the Postgres 15 tree.
lsm_build_install() {
	make -s USE_PGXS=1 with_llvm=no PG_CONFIG="$PG_CONFIG" -j2 >/dev/null || return 1
	if [ -w "$($PG_CONFIG --pkglibdir)" ]; then
		make -s USE_PGXS=1 with_llvm=no PG_CONFIG="$PG_CONFIG" install >/dev/null || return 1
	else
		echo "cannot write to $($PG_CONFIG --pkglibdir): run as root to install lsm_fdw" >&2
		return 1
	fi
}

# Run a command as the postgres user (Postgres refuses to run as root).
lsm_as_postgres() {
	if [ "$(id -un)" = postgres ]; then
		"$@"
	elif [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
