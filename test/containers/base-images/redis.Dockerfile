# Stand-in for Docker Hub's redis:7: Debian's redis-server (7.0), run from
# /data, with protected mode off by default as the official image builds it
# (so other containers may connect whatever arguments the command gives).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && printf '#!/bin/sh\nexec /usr/bin/redis-server "$@" --protected-mode no\n' > /usr/local/bin/redis-server \
    && chmod +x /usr/local/bin/redis-server \
    && mkdir /data && chown redis:redis /data
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]
