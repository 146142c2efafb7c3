# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Installs what a fresh machine lacks: the native libraries (Debian packages), the interpreters, a venv per
# interpreter with the build and test dependencies, and pyheapdump itself.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# clang and its sanitizer/libFuzzer runtime build the fuzz targets (fuzz/run.sh,
# tests/python/integration/test_trust_fuzz.py); chromium renders `pyheapdump report`'s page headless
# (tests/python/integration/test_analysis.py).
DEBIAN_PACKAGES=(libabsl-dev libcereal-dev zlib1g-dev libgtest-dev cmake ninja-build g++ clang libclang-rt-14-dev
                 pkg-config chromium)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  for package in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The interpreter for X.Y: pyenv's, /opt/cpython-X.Y (what ../shared/tools/get-python installs), the system's; else
# installed by ../shared/tools/get-python (Debian sid's CPython, any version sid has: 3.14, 3.15, ...) or, for 3.13,
# built from Debian's sources by ../shared/tools/build-cpython, where those tools exist beside the checkout.
find_python() {
  local version=$1 candidate tools=$ROOT/../shared/tools
  for candidate in "$HOME"/.pyenv/versions/"$version".*/bin/python"$version" /opt/cpython-"$version"/bin/python"$version" \
                   "$(command -v python"$version" 2>/dev/null || true)"; do
    if [[ -n $candidate && -x $candidate ]]; then echo "$candidate"; return 0; fi
  done
  if [[ -x $tools/get-python ]]; then
    log "Python $version: installing it with $tools/get-python"
    "$tools/get-python" "$version" && return 0
  fi
  if [[ $version == 3.13 && -x $tools/build-cpython ]]; then
    "$tools/build-cpython" 3.13
    return 0
  fi
  return 1
}

# Creates (or reuses) .venv-X.Y with the build and test dependencies, builds the native module in place and installs
# the package (console script, pytest plugin, start-up hook). Prints the venv's python.
prepare_venv() {
  local version=$1 python venv
  python=$(find_python "$version") || { log "Python $version is not on this machine"; return 1; }
  venv="$ROOT/.venv-$version"
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  log "Python $version: installing dependencies into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q scikit-build-core pybind11 cmake ninja -r "$ROOT/tests/requirements.txt"
  PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip install -q --no-build-isolation "$ROOT" >&2
  # The tests import the tree itself: link the module the install just built (build/<wheel tag>) into pyheapdump/,
  # which is what dev-build.sh does after building it again (the core takes minutes to compile on two cores).
  local suffix built
  suffix=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  built=$(ls -t "$ROOT"/build/cp*/_native"$suffix" 2>/dev/null | head -1 || true)
  if [[ -n $built ]]; then
    ln -sf "$built" "$ROOT/pyheapdump/_native$suffix"
  else
    PATH="$venv/bin:$PATH" bash "$ROOT/scripts/dev-build.sh" "$venv/bin/python" >&2
  fi
  echo "$venv/bin/python"
}
