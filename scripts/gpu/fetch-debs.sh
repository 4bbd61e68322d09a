#!/usr/bin/env bash
# Downloads (does not install) the Debian packages a build of pride needs on a GPU machine that
# reaches no package registry. Run on a Debian 12 machine, in the repository root:
#   scripts/gpu/fetch-debs.sh .deps        (.deps/ is git-ignored)
# then carry .deps to the GPU machine, where scripts/gpu/unpack-debs.sh unpacks it into a prefix.
set -eu
dest=${1:-.deps}
mkdir -p "$dest"
cd "$dest"
[ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] || apt-get update -qq
packages=(
  # HDF5, YAML, fmt, GoogleTest, CLI11, JSON, xxhash
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libhdf5-cpp-103-1 libsz2 libaec0 libaec-dev
  libyaml-cpp-dev libyaml-cpp0.7 libfmt-dev libfmt9 libgtest-dev googletest
  libcli11-dev nlohmann-json3-dev libxxhash-dev libxxhash0
  # Open MPI and what it loads
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libhwloc15
  libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libibverbs1
  librdmacm1 libpsm2-2 libpsm-infinipath1 libnl-3-200 libnl-route-3-200 libnuma1 libmunge2
  libcurl4 libnghttp2-14 libpsl5 librtmp1 libssh2-1 libldap-2.5-0 libsasl2-2
  # tokenizers: SentencePiece, PCRE2, ICU, and pkg-config to find them
  libsentencepiece-dev libsentencepiece0 libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0
  libpcre2-posix3 libicu-dev libicu72 icu-devtools pkgconf pkgconf-bin libpkgconf3 pkg-config
)
apt-get download -qq "${packages[@]}" 2>&1 | grep -v "unsandboxed" || true
ls ./*.deb | wc -l
