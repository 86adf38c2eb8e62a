# Tasklane image: the roles of docker-compose.yml (server, worker, api: docker/entrypoint.sh), and
# the flow image of Docker work pools (prefect.yaml `hello-docker`, README "Docker work pool"). The base pins the same Prefect as uv.lock; the code is baked in at /opt/tasklane,
# which the deployment's pull step makes the working directory of every flow run.
FROM prefecthq/prefect:3.9.1-python3.12

ENV PYTHONUNBUFFERED=1
WORKDIR /opt/tasklane
COPY pyproject.toml uv.lock README.md ./
# Install the locked dependencies first so code changes do not rebuild this layer.
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt
COPY tasklane ./tasklane
COPY flows ./flows
COPY blocks ./blocks
COPY integrations ./integrations
COPY deployments ./deployments
# The project itself (its task-type entry points included); the sources above stay importable too.
RUN pip install --no-cache-dir --no-deps .
COPY docker/entrypoint.sh /usr/local/bin/tasklane-entrypoint
# A role (server, worker, api) or any command, which goes through Prefect's own entrypoint.
ENTRYPOINT ["/usr/local/bin/tasklane-entrypoint"]
CMD ["worker"]
