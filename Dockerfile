# pgwarden: an identity-aware PostgreSQL gateway.
#   docker build -t pgwarden .
#   docker run -p 6432:6432 -p 8080:8080 -v $PWD/pgwarden.yaml:/etc/pgwarden/pgwarden.yaml:ro pgwarden
# The config must listen on 0.0.0.0 inside the container (with TLS, or allow_insecure_remote
# behind a TLS-terminating proxy); see deploy/kubernetes/ for a complete example.

# Dependencies, with the native modules (libpg-query, better-sqlite3) built or fetched for this image.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Data (audit log, reviews) lives in a volume; the process runs as the unprivileged node user.
RUN mkdir -p /var/lib/pgwarden /etc/pgwarden && chown node:node /var/lib/pgwarden && chmod 0700 /var/lib/pgwarden
USER node
VOLUME ["/var/lib/pgwarden"]
EXPOSE 6432 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/pgwarden.mjs"]
CMD ["start", "--config", "/etc/pgwarden/pgwarden.yaml"]
