#!/bin/sh
# The image's entrypoint. `digest run -c FILE ...` first checks FILE (a missing mount or a bad config
# exits 2 with the usual one-line-per-problem message, before anything starts) and prints its summary;
# every other command (check-config, poll, status, send ...) goes to `digest` unchanged.
set -eu
if [ "${1:-}" = run ]; then
	config="" prev=""
	for arg in "$@"; do
		case $prev in -c | --config) config=$arg ;; esac
		case $arg in --config=*) config=${arg#--config=} ;; esac
		prev=$arg
	done
	if [ -n "$config" ] && [ ! -f "$config" ]; then
		echo "error: $config: no such config file in the container." >&2
		echo "  hint: mount the folder that holds it, e.g. docker run -v ./config:/config:ro ... (see README," >&2
		echo "  \"Self-hosting with Docker\"), or name another file: ... run -c /config/FILE.yaml" >&2
		exit 2
	fi
	if [ -n "$config" ]; then
		digest check-config -c "$config" || exit $?
	fi
fi
exec digest "$@"
