# Shared by scripts/run and scripts/test: install what is missing, build,
# and run a local PostgreSQL under var/. Sourced, not run.

GRANITE_PACKAGES=(
  g++ cmake make pkg-config ccache
  libboost1.81-dev nlohmann-json3-dev libpqxx-dev libsodium-dev libdeflate-dev libxxhash-dev libspdlog-dev libfmt-dev googletest libgtest-dev
  postgresql postgresql-common postgresql-client acl curl procps python3-prometheus-client
  dpkg-dev file python3 systemd
)
# What the deployment tests use: Packer, HAProxy, network namespaces, the AWS
# CLI, and debootstrap + systemd-nspawn for the booted image.
GRANITE_DEPLOY_PACKAGES=(
  packer haproxy iproute2 openssh-client awscli debootstrap systemd-container
)

# What the database tests put in front of PostgreSQL: Debian's PgBouncer
# (run by the test itself on a port of its own).
GRANITE_TEST_PACKAGES=(pgbouncer)

# What scripts/fuzz uses: clang and its libFuzzer runtime.
GRANITE_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

install_missing() {
  local missing=() pkg
  for pkg in "${GRANITE_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build_granite DIR [cmake options...]
build_granite() {
  local dir=$1; shift
  say "building granite in $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}

pg_bin() { echo "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n1)/bin"; }

# The local cluster runs as the postgres user when we are root (PostgreSQL
# refuses to run as root), as ourselves otherwise.
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# PostgreSQL must reach var/pg: grant the postgres user search permission
# (x only, through an ACL) on any ancestor directory that denies it.
grant_traverse() {
  [ "$(id -u)" -eq 0 ] || return 0
  local path="" part
  local -a parts
  IFS=/ read -ra parts <<<"${1#/}"
  for part in "${parts[@]}"; do
    path="$path/$part"
    if ! runuser -u postgres -- test -x "$path"; then
      say "granting the postgres user search (x) permission on $path so PostgreSQL can reach var/pg"
      setfacl -m u:postgres:x "$path"
    fi
  done
}

# start_local_postgres: initialises var/pg/data once, starts it listening on a
# Unix socket only (no TCP port to collide with), with wal_level = logical
# (the read caches follow the change stream), exports DATABASE_URL.
start_local_postgres() {
  local root=$PWD/var/pg bin
  bin=$(pg_bin)
  mkdir -p "$root"
  grant_traverse "$PWD"
  local sockdir=$root/run
  # A Unix socket path is limited to 107 bytes.
  if [ $(( ${#sockdir} + 20 )) -gt 107 ]; then
    sockdir=/tmp/granite-pg-$(printf '%s' "$PWD" | md5sum | cut -c1-12)
  fi
  mkdir -p "$sockdir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$root" "$sockdir"
  if [ ! -f "$root/data/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster in var/pg/data"
    as_pg_owner "$bin/initdb" -D "$root/data" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      --username=granite >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; die "initdb failed"; }
  fi
  GRANITE_PG_STARTED=0
  if ! as_pg_owner "$bin/pg_ctl" -D "$root/data" status >/dev/null 2>&1; then
    say "starting PostgreSQL (socket in $sockdir)"
    as_pg_owner "$bin/pg_ctl" -D "$root/data" -l "$root/postgresql.log" -w \
      -o "-c listen_addresses='' -c wal_level=logical -k $sockdir ${GRANITE_PG_OPTIONS:-}" start >/dev/null ||
      { tail -n 20 "$root/postgresql.log" >&2; die "PostgreSQL did not start"; }
    GRANITE_PG_STARTED=1
  else
    say "reusing the PostgreSQL already running on var/pg/data"
  fi
  export DATABASE_URL="host=$sockdir user=granite dbname=granite"
  if ! psql "host=$sockdir user=granite dbname=postgres" -Atc "SELECT 1 FROM pg_database WHERE datname='granite'" | grep -q 1; then
    psql "host=$sockdir user=granite dbname=postgres" -qc "CREATE DATABASE granite" >/dev/null
  fi
}

# Stops the local cluster, but only if start_local_postgres started it: a
# second scripts/run must not pull the database from under the first.
stop_local_postgres() {
  [ "${GRANITE_PG_STARTED:-0}" = 1 ] || return 0
  say "stopping PostgreSQL"
  as_pg_owner "$(pg_bin)/pg_ctl" -D "$PWD/var/pg/data" -m fast -w stop >/dev/null 2>&1 || true
}
