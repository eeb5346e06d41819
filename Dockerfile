# facegate in a container (README §Container). Debian, so better-sqlite3's
# prebuilt binary fits; Node 24 LTS; a user of its own; the data in a volume.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /opt/facegate
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY drizzle ./drizzle
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
# tzdata: the terminals' times are local times in TZ (README §Operators); set TZ, e.g. Asia/Shanghai.
RUN apt-get update && apt-get install -y --no-install-recommends tzdata && rm -rf /var/lib/apt/lists/* \
  && groupadd --system facegate && useradd --system --gid facegate --home-dir /var/lib/facegate facegate \
  && mkdir -p /var/lib/facegate && chown facegate:facegate /var/lib/facegate && chmod 0700 /var/lib/facegate
WORKDIR /opt/facegate
COPY --from=build /opt/facegate/package.json ./package.json
COPY --from=build /opt/facegate/node_modules ./node_modules
COPY --from=build /opt/facegate/drizzle ./drizzle
COPY --from=build /opt/facegate/dist ./dist
ENV DATA_DIR=/var/lib/facegate
# glibc: a pinned mmap threshold (README §Performance, Memory; src/lib/runtime.ts).
ENV MALLOC_MMAP_THRESHOLD_=131072
USER facegate
VOLUME ["/var/lib/facegate"]
EXPOSE 6699 1883
# No curl in the image: Node asks /healthz itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||6699)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The command of the systemd unit (wrangler-free.md) and of `npm start` on a built tree.
CMD ["node", "--enable-source-maps", "--max-semi-space-size=4", "dist/cli.js"]
