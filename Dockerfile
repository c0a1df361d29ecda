# Builds the iii engine into one executable and ships it on a distroless base.
#
#   docker build -t iii:local .
#   docker run --read-only --tmpfs /tmp --cap-drop=ALL --security-opt=no-new-privileges:true \
#     -p 127.0.0.1:49134:49134 -p 127.0.0.1:3111:3111 -v iii-data:/data iii:local
#
# The engine writes only under /data (III_DATA_DIR), so the root filesystem can be read-only.
# Replace the built-in /app/config.yaml with `-v ./config.yaml:/app/config.yaml:ro`; a config
# meant for a container must set `host: 0.0.0.0` at the top and in each listening module.

ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src

# Dependencies first, so source edits reuse the cached install layer.
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile

COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN bun run build && ./dist/iii --version

# Distroless has no shell to create the volume folder, so it is made here with the
# owner the final stage runs as (nonroot, uid 65532).
RUN mkdir -p /staging/data && chown 65532:65532 /staging/data

# `bun build --compile` output links only glibc (libc, libm, libpthread, libdl; checked with
# ldd and readelf on Bun 1.4.5 for x64 and arm64), so the base image without libstdc++ suffices.
FROM gcr.io/distroless/base-debian12:nonroot

LABEL org.opencontainers.image.title="iii" \
      org.opencontainers.image.description="Process communication engine: workers connect over WebSocket, register functions and triggers, and the engine routes invocations" \
      org.opencontainers.image.source="https://github.com/iii-hq/iii"

COPY --from=build /src/dist/iii /usr/local/bin/iii
COPY deploy/config.docker.yaml /app/config.yaml
COPY --from=build --chown=65532:65532 /staging/data /data

USER 65532:65532
WORKDIR /app
ENV III_DATA_DIR=/data
VOLUME /data

# Worker WebSocket, HTTP API, stream WebSocket, Prometheus metrics.
EXPOSE 49134 3111 3112 9464

ENTRYPOINT ["/usr/local/bin/iii"]
CMD ["--config", "/app/config.yaml"]
