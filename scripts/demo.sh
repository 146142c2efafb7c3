#!/usr/bin/env bash
# Sets up a fresh machine and shows the main job: a program crashes, pyheapdump writes the dump, and a second process
# prints the crash's traceback with the local variables read from the dump.
source "$(dirname "$0")/_setup.sh"
install_debian_packages
python=$(prepare_venv 3.11)
workdir=$(mktemp -d)
log "running examples/crashing_service.py under 'pyheapdump run' (it will crash)"
(cd "$workdir" && "$python" -m pyheapdump run --directory "$workdir" "$ROOT/examples/crashing_service.py") || true
dump=$(ls -t "$workdir"/*.heapdump | head -n 1)
log "the dump: $dump"
"$python" -m pyheapdump info "$dump"
log "the traceback with locals, read from the dump in a new process"
"$python" -m pyheapdump traceback --locals "$dump"
