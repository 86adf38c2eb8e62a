#!/usr/bin/env bash
# The image's entrypoint: one role per compose service, or any command (a Docker work pool's flow
# runs, `prefect flow-run execute`, go through Prefect's own entrypoint as before).
#   server  the Prefect server (its database: PREFECT_API_DATABASE_CONNECTION_URL)
#   worker  registers the blocks, applies the catalog (which creates the pool), runs the worker
#   api     the Tasklane REST API
# The defaults are the containers'; tests/test_compose.py runs the same roles as plain processes
# with the bind address, port and zygote socket set through the environment.
set -euo pipefail
role="${1:-worker}"
case "$role" in
    server)
        exec python -m tasklane.runtime.server start --host "${TASKLANE_SERVER_BIND:-0.0.0.0}" \
            --port "${TASKLANE_SERVER__PORT:-4200}"
        ;;
    worker)
        prefect block register -m blocks
        tasklane apply
        exec python -m tasklane.runtime.warm_start serve --socket "${TASKLANE_WARM_SOCKET:-/tmp/tasklane-warm.sock}" -- \
            python -m tasklane.runtime.worker start --pool "${TASKLANE_POOL__NAME:-tasklane}" \
            --type process --name "${TASKLANE_WORKER_NAME:-compose-worker}"
        ;;
    api)
        exec tasklane api
        ;;
    *)
        exec /opt/prefect/entrypoint.sh "$@"
        ;;
esac
