# Build and run the Image Factory service.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
# Host tools builds run: depmod (kmod) for extension kernel modules, zstd and xz for compression,
# grub-mkimage (grub-common) for GRUB core images, mkfs.xfs (xfsprogs) for the BOOT partition.
RUN apt-get update && apt-get install -y --no-install-recommends kmod zstd xz-utils grub-common xfsprogs ca-certificates \
    && rm -rf /var/lib/apt/lists/* && mkdir /data && chown node:node /data
WORKDIR /app
ENV NODE_ENV=production IF_LISTEN=0.0.0.0:8080 IF_DATA_DIR=/data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
VOLUME /data
EXPOSE 8080 2122
USER node
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
