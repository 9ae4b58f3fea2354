# Shared by scripts/test and scripts/demo: the Debian packages berth needs, and a
# function that installs the missing ones. Sourced, not run.

BERTH_PACKAGES=(
  meson ninja-build pkg-config g++ clang libclang-rt-14-dev python3
  libzmq3-dev libsodium-dev cppzmq-dev libmsgpack-cxx-dev libsqlite3-dev sqlite3 libabsl-dev
  libiptc-dev libip4tc-dev iptables libnftables-dev libnftnl-dev nftables
  libnl-route-3-dev nlohmann-json3-dev
  libcli11-dev libspdlog-dev doctest-dev libsystemd-dev libseccomp-dev
  iproute2 procps util-linux tar
  busybox-static runc help2man nats-server libnats-dev libcpp-httplib-dev prometheus
)

berth_install_missing_packages() {
  local missing=() p
  for p in "${BERTH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The options of the main build (build/), shared by scripts/test and scripts/demo
# so that neither reconfigures (and rebuilds) what the other built. Unity builds
# (several .cc files per compiler run) and no debug info keep a fresh build of
# everything within a few minutes on two cores.
BERTH_MAIN_OPTIONS=(-Dwerror=true -Dbuildtype=plain -Doptimization=2 -Ddebug=false -Dunity=on -Dunity_size=6)
# The sanitizer build (build-asan/): -O1 with line tables, as ASan advises.
BERTH_ASAN_OPTIONS=(-Dwerror=true -Dbuildtype=plain -Doptimization=1 -Ddebug=false -Dcpp_args=-g1 -Dunity=on -Dunity_size=6
  -Db_sanitize=address,undefined -Db_lundef=false)

# Configures build directory $1 with the remaining arguments as meson options,
# or reconfigures it when it exists (so an incremental build picks up changes).
berth_meson_setup() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}
