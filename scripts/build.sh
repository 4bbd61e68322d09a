#!/usr/bin/env bash
# Configures and builds pride into ./build (Release, Ninja).
#   scripts/build.sh                      everything (library, binary, every test)
#   scripts/build.sh --target pride       only what is named (repeatable)
# Other arguments go to cmake's configure step (e.g. -DPRIDE_UNITY_BATCH=1).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
configure=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) configure+=("$1"); shift ;;
  esac
done
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${configure[@]}" >/dev/null
cmake --build build -j "$(nproc)" "${targets[@]}"
