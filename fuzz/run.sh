#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a set time on a seed corpus of real dumps:
#   bash fuzz/run.sh [SECONDS] [TARGET...]
# SECONDS (default 60) is each target's run time. TARGETs: reader (libFuzzer, C++ reader and Cursor decoding, no
# Python), decoder (libFuzzer, reader + DecodeRecord with Python embedded), load_dump (atheris on
# pyheapdump.load_dump). Default: all three; a target whose tool is missing (clang, atheris) is reported and skipped
# (atheris has no release for Python 3.15 and later: load_dump is skipped there).
# Environment: PYTHON (default python3: the interpreter whose pyheapdump is fuzzed, built in place or installed),
# FUZZ_WORK (default build/fuzz: the corpus grows there across runs, crashes land in FUZZ_WORK/artifacts),
# FUZZ_JOBS (default 1: parallel fuzzing processes per target).
# Exit status: 0 when every target that ran found nothing, 1 when one found a crash, leak or timeout (the input is in
# FUZZ_WORK/artifacts; make it a regression test under fuzz/regressions/), 2 on a set-up error.
# Each run appends "target<TAB>seconds<TAB>executions<TAB>result" to FUZZ_WORK/runs.tsv.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(reader decoder load_dump)
python=${PYTHON:-python3}
work=${FUZZ_WORK:-$root/build/fuzz}
jobs=${FUZZ_JOBS:-1}
mkdir -p "$work/artifacts" "$work/seeds"

log() { printf '== %s\n' "$*" >&2; }

make_seeds() {
  if ! ls "$work"/seeds/*.heapdump >/dev/null 2>&1; then
    log "writing the seed corpus (real dumps) to $work/seeds"
    (cd "$work" && PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$python" "$here/make_seeds.py" "$work/seeds" >/dev/null) ||
      { log "could not write the seeds: is pyheapdump built for $python? (bash scripts/dev-build.sh $python)"; exit 2; }
  fi
}

# Compiles one libFuzzer target with AddressSanitizer and UBSan (every UB report aborts: it is a finding).
build_target() {
  local name=$1 source=$2
  shift 2
  local binary="$work/$name"
  local sources=("$here/$source" "$root/native/chunk_reader.cc" "$root/native/chunk_inflate.cc" "$root/native/mapped_bytes.cc" "$@")
  local newest
  newest=$(ls -t "${sources[@]}" "$here/fuzz_input.h" "$root/native/format.h" "$here/run.sh" | head -1)
  if [[ -x $binary && $binary -nt $newest ]]; then return 0; fi
  log "building $name"
  clang++ -std=c++17 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/native" $(pkg-config --cflags absl_status absl_statusor absl_strings absl_str_format zlib) \
    "${extra_cflags[@]}" "${sources[@]}" -o "$binary" \
    $(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format zlib) "${extra_libs[@]}"
}

# Runs one libFuzzer-style binary (or atheris script) for $seconds; records executions and the outcome.
run_fuzzer() {
  local name=$1
  shift
  local corpus="$work/corpus-$name" output="$work/$name.log"
  mkdir -p "$corpus"
  log "fuzzing $name for ${seconds}s (corpus $corpus, log $output)"
  "$@" "$corpus" "$work/seeds" -dict="$here/heapdump.dict" -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=2560 -malloc_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
    "${parallel[@]}" >"$output" 2>&1
  local status=$?
  local executions
  executions=$(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$output" "$work"/fuzz-*.log 2>/dev/null |
    awk '{sum += $2} END {print sum + 0}')
  rm -f "$work"/fuzz-*.log
  local result=ok
  if ((status != 0)); then
    result="FOUND (exit $status): $(ls -t "$work/artifacts/$name-"* 2>/dev/null | head -1)"
    tail -40 "$output" >&2
    failed=1
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$seconds" "$executions" "$result" >>"$work/runs.tsv"
  log "$name: $executions executions in ${seconds}s: $result"
}

for target in "${targets[@]}"; do
  case $target in
    reader | decoder | load_dump) ;;
    *) log "unknown target $target (reader, decoder, load_dump)"; exit 2 ;;
  esac
done
failed=0
parallel=()
((jobs > 1)) && parallel=(-jobs="$jobs" -workers="$jobs")
make_seeds
for target in "${targets[@]}"; do
  extra_cflags=()
  extra_libs=()
  case $target in
    reader)
      command -v clang++ >/dev/null || { log "reader: clang++ is missing (apt-get install clang libclang-rt-14-dev)"; continue; }
      build_target reader_fuzzer reader_fuzzer.cc || exit 2
      ASAN_OPTIONS=detect_leaks=1 run_fuzzer reader "$work/reader_fuzzer"
      ;;
    decoder)
      command -v clang++ >/dev/null || { log "decoder: clang++ is missing (apt-get install clang libclang-rt-14-dev)"; continue; }
      read -r include libdir version home < <("$python" -c 'import sys, sysconfig as s
print(s.get_paths()["include"], s.get_config_var("LIBDIR"), s.get_config_var("LDVERSION"), sys.base_prefix)')
      extra_cflags=(-I"$include")
      extra_libs=(-L"$libdir" -lpython"$version" -Wl,-rpath,"$libdir")
      # An interpreter installed by get-python (/opt/cpython-X.Y) brings the newer C library its libpython needs:
      # the target then starts with that library's loader and finds it before the system's.
      if [[ -e $libdir/ld-linux-x86-64.so.2 ]]; then
        extra_libs=(-L"$libdir" -lpython"$version" -Wl,--allow-shlib-undefined
                    -Wl,--dynamic-linker="$libdir/ld-linux-x86-64.so.2",--disable-new-dtags,-rpath,"$libdir:/lib/x86_64-linux-gnu")
      fi
      build_target record_decoder_fuzzer record_decoder_fuzzer.cc "$root/native/record_decoder.cc" || exit 2
      # The embedded interpreter's own allocations at exit are not leaks of the reader's.
      PYTHONHOME="$home" ASAN_OPTIONS=detect_leaks=0 run_fuzzer decoder "$work/record_decoder_fuzzer"
      ;;
    load_dump)
      # atheris supports CPython up to 3.14 (its newest release refuses 3.15 on import); say which case this is.
      if ! "$python" -c 'import atheris' 2>/dev/null; then
        if "$python" -c 'import sys; sys.exit(sys.version_info < (3, 15))'; then
          log "load_dump: skipped: atheris does not support Python $("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        else
          log "load_dump: atheris is missing ($python -m pip install atheris)"
        fi
        continue
      fi
      PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" run_fuzzer load_dump "$python" "$here/load_dump_fuzzer.py"
      ;;
  esac
done
exit $failed
