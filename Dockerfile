# Taskgate server image. Build: docker build -t taskgate .
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY . .
# The web UI bundle (static/pkg): wasm32 target, wasm-bindgen-cli, wasm-split-cli, wasm-opt from npm.
RUN bash scripts/build-ui.sh
# After the UI: the release binary carries static/ (one file to deploy).
RUN cargo build --release -p taskgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/taskgate taskgate \
    && mkdir -p /var/lib/taskgate/data && chown taskgate /var/lib/taskgate/data
COPY --from=build /src/target/release/taskgate /usr/local/bin/taskgate
USER taskgate
WORKDIR /var/lib/taskgate
ENV TASKGATE_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["taskgate"]
CMD ["serve"]
