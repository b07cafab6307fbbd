# tt-stats: the statistics bot for tt-bot operators.
# Build:  docker build -t tt-stats .
# Run:    docker run --env-file .env tt-stats            (the bot)
#         docker run --env-file .env tt-stats report     (any other command)

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# TLS is rustls (the system root certificates are read at run time from ca-certificates)
# and the graph fonts are embedded, so no system libraries are needed; the
# C compiler of the rust image builds sqlx's bundled SQLite.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
# Cargo.toml declares the benchmark target, so its source must be present to build.
COPY benches ./benches
RUN cargo build --release --locked \
    && strip target/release/tt-stats

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /app --uid 10001 ttstats
COPY --from=builder /src/target/release/tt-stats /usr/local/bin/tt-stats
USER ttstats
WORKDIR /app
# The rollup state (one file per database) lives in $XDG_STATE_HOME/tt-stats: /app/state,
# on the volume docker-compose.yml mounts at /app.
ENV XDG_STATE_HOME=/app/state
# Logs go to stderr; SIGTERM (docker stop) shuts the bot down cleanly.
ENTRYPOINT ["tt-stats"]
CMD ["bot"]
