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

# The interpreter for X.Y: pyenv's, /opt's, the system's, or (3.13 only) built from Debian's sources.
find_python() {
  local version=$1 candidate
  for candidate in "$HOME"/.pyenv/versions/"$version".*/bin/python"$version" /opt/cpython-"$version"/bin/python"$version" \
                   "$(command -v python"$version" 2>/dev/null || true)"; do
    if [[ -n $candidate && -x $candidate ]]; then echo "$candidate"; return 0; fi
  done
  if [[ $version == 3.13 && -x $ROOT/../shared/tools/build-cpython ]]; then
    "$ROOT/../shared/tools/build-cpython" 3.13
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
  PATH="$venv/bin:$PATH" bash "$ROOT/scripts/dev-build.sh" "$venv/bin/python" >&2
  "$venv/bin/python" -m pip install -q --no-build-isolation "$ROOT" >&2
  echo "$venv/bin/python"
}
