#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the C++ core under GoogleTest (ctest, on Python 3.11), then pytest on
# each supported interpreter (3.11 to 3.15). Usage: bash scripts/test.sh [pytest args...]
#
# CI (.ci/run) has 90 minutes on a 2-core machine shared with other jobs. Measured there (Dec 2026): the whole suite
# takes 3-4 min per interpreter when the machine is quiet but 13-20 min under the load other jobs put on it (load
# average 7-12), and each interpreter also needs its venv and a build of the core (2-3 min quiet, several times that
# loaded). Five whole-suite runs fit only on a quiet machine, so:
#   - 3.11 and 3.15, the oldest and the newest, run the whole suite;
#   - 3.12, 3.13 and 3.14 run VERSION_SENSITIVE below: the tests of what changes between CPython versions (the
#     walker and the loader on the C API, frames and code objects, asyncio and threading internals, the hooks,
#     dumping a process by its pid),
#     listed explicitly and printed in the log. What they leave out (CLI, IDE protocol, file-format hardening and
#     fuzzing, real-library programs, packaging, the cross-version tests, which drive every interpreter themselves)
#     runs on 3.11 and 3.15.
# PYHEAPDUMP_FULL_ON_ALL=1 runs the whole suite on every interpreter instead.
source "$(dirname "$0")/_setup.sh"
install_debian_packages

FULL_VERSIONS=(3.11 3.15)
SUBSET_VERSIONS=(3.12 3.13 3.14)
VERSION_SENSITIVE=(  # file names, wherever they are under tests/python
  test_engine_roundtrip.py test_engine_identity.py test_engine_exceptions.py test_engine_modules.py
  test_engine_limits.py test_engine_threads.py test_engine_trust.py test_standard_values.py test_surrogate_kinds.py
  test_surrogate_reasons.py test_extension_types.py test_dump_fast_paths.py test_frames.py test_debugger.py
  test_extra_stacks.py test_hooks.py test_live_dump.py test_trusted_main.py test_dump_pid.py
)
# A listed file that no longer exists is an error, not a test quietly left out.
sensitive_paths=()
for name in "${VERSION_SENSITIVE[@]}"; do
  found=$(find "$ROOT/tests/python" -name "$name" -type f | head -1)
  [[ -n $found ]] || { log "scripts/test.sh lists $name as version-sensitive, but there is no such test file"; exit 2; }
  sensitive_paths+=("$found")
done
if [[ ${PYHEAPDUMP_FULL_ON_ALL:-} == 1 ]]; then
  FULL_VERSIONS=(3.11 3.12 3.13 3.14 3.15)
  SUBSET_VERSIONS=()
fi

log "C++ core: GoogleTest"
python311=$(prepare_venv 3.11)
cmake -S "$ROOT" -B "$ROOT/build/ctest" -G Ninja -DPYHEAPDUMP_BUILD_TESTS=ON \
  -DPython_EXECUTABLE="$python311" -Dpybind11_DIR="$("$python311" -m pybind11 --cmakedir)" >/dev/null
ninja -C "$ROOT/build/ctest" -j2 native_tests >/dev/null
(cd "$ROOT/build/ctest" && ctest --output-on-failure)

# Every interpreter is set up before any test runs: the cross-version tests load dumps written by the others.
status=0
declare -A pythons=()
for version in "${FULL_VERSIONS[@]}" "${SUBSET_VERSIONS[@]}"; do
  if python=$(prepare_venv "$version"); then
    pythons[$version]=$python
  else
    log "Python $version: could not be set up; its tests did not run"
    status=1
  fi
done
for version in 3.11 3.12 3.13 3.14 3.15; do
  [[ -n ${pythons[$version]:-} ]] || continue
  if [[ " ${SUBSET_VERSIONS[*]} " == *" $version "* ]]; then
    log "Python $version: pytest on the version-sensitive subset (${#VERSION_SENSITIVE[@]} files; every other test" \
        "runs on ${FULL_VERSIONS[*]}; PYHEAPDUMP_FULL_ON_ALL=1 runs everything here): ${VERSION_SENSITIVE[*]}"
    (cd "$ROOT" && "${pythons[$version]}" -m pytest "${sensitive_paths[@]}" "$@") || status=1
  else
    log "Python $version: pytest, the whole suite"
    (cd "$ROOT" && "${pythons[$version]}" -m pytest "$@") || status=1
  fi
done
((status == 0)) && log "all tests passed" || log "some tests failed (see above)"
exit $status
