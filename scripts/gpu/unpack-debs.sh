#!/usr/bin/env bash
# On the GPU machine: unpacks the carried .deb files (scripts/gpu/fetch-debs.sh) into a prefix,
# never into / (that can break the machine's own libraries), and writes an environment file to
# source before building or running:
#   bash scripts/gpu/unpack-debs.sh .deps /opt/deps && source /opt/deps/env.sh
set -eu
src=${1:-.deps} prefix=${2:-/opt/deps}
mkdir -p "$prefix"
for f in "$src"/*.deb; do dpkg -x "$f" "$prefix"; done
lib=$prefix/usr/lib/x86_64-linux-gnu
# Debian makes mpirun, mpicc and friends with update-alternatives, which dpkg -x does not run.
for t in mpirun mpiexec mpicc mpicxx; do
  ln -sf "$(ls "$prefix/usr/bin/$t.openmpi" 2>/dev/null || echo orterun)" "$prefix/usr/bin/$t"
done
# The unpacked .pc files say prefix=/usr: pkg-config's sysroot maps them into the prefix, and
# PKG_CONFIG_LIBDIR keeps it to ours.
cat >"$prefix/env.sh" <<ENV
export PATH=$prefix/usr/bin:\$PATH
export LD_LIBRARY_PATH=$lib:$lib/openmpi/lib:$lib/hdf5/serial:\${LD_LIBRARY_PATH:-}
export CMAKE_PREFIX_PATH=$prefix/usr:$lib/cmake:\${CMAKE_PREFIX_PATH:-}
export HDF5_ROOT=$lib/hdf5/serial
export CPATH=$prefix/usr/include:$prefix/usr/include/hdf5/serial:\${CPATH:-}
export PKG_CONFIG=$prefix/usr/bin/pkgconf
export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$prefix/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$prefix
export OPAL_PREFIX=$prefix/usr
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ENV
echo "source $prefix/env.sh"
