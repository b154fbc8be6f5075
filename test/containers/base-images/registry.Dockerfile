# Stand-in for Docker Hub's registry:2: Debian's docker-registry (CNCF
# distribution 2.8) with the official image's configuration: port 5000,
# storage in /var/lib/registry.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker-registry \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/registry /etc/docker/registry \
    && printf '%s\n' 'version: 0.1' 'log:' '  fields:' '    service: registry' 'storage:' '  cache:' '    blobdescriptor: inmemory' \
       '  filesystem:' '    rootdirectory: /var/lib/registry' 'http:' '  addr: :5000' '  headers:' '    X-Content-Type-Options: [nosniff]' \
       > /etc/docker/registry/config.yml
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT ["docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
