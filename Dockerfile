# The Image Factory as a container image: the compiled service, its production
# dependencies and the few host tools builds run, as a non-root user with its
# data on a volume. Built and run by test/containers/docker.test.ts.
#
#   docker build --network host --build-arg VERSION=<version> -t image-factory .

# Production dependencies only (the native bindings ship prebuilt, so no install scripts run).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# The TypeScript compiler and the compiled service.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build

FROM node:24-bookworm-slim
# Host tools builds run: depmod (kmod) for extension kernel modules, zstd and xz for compression,
# grub-mkimage (grub-common) for GRUB core images, mkfs.xfs (xfsprogs) for the BOOT partition.
# The service checks for each at start and names a missing one's package.
RUN apt-get update \
    && apt-get install -y --no-install-recommends kmod zstd xz-utils grub-common xfsprogs \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
    && mkdir /data && chown node:node /data
WORKDIR /app
ENV NODE_ENV=production IF_LISTEN=0.0.0.0:8080 IF_DATA_DIR=/data
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
VOLUME /data
# Metrics (IF_METRICS_LISTEN) listen on loopback unless set to 0.0.0.0:2122.
EXPOSE 8080
USER node
# Web processes answer /healthz; a worker has no HTTP port (run it with --no-healthcheck).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
    CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
# Last, so that a build with other values reuses every layer above.
ARG VERSION=dev
ARG SOURCE=""
LABEL org.opencontainers.image.title="Image Factory for Talos Linux" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MPL-2.0"
