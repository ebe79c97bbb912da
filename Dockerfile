# syntax=docker/dockerfile:1
# ots-handoff: runs the TypeScript sources with tsx (a production dependency); there is no build step.
# Used by docker-compose.yml, which sets TEMPORAL_ADDRESS, so the process never starts an embedded Temporal server.
#   docker build -t ots-handoff .
# Node 22 LTS here; the code itself supports Node >= 20.3 (package.json engines).
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- dependencies: production only, from the lockfile ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Code and dependencies stay owned by root, read-only for the process; only the data dir is writable.
COPY --from=deps /app/node_modules ./node_modules
# tsconfig.json too: tsx compiles with the same settings as development and CI.
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# The committed phonetic clips the passphrase is spoken from (src/voice/clips.ts reads assets/clips at start-up).
COPY assets ./assets
RUN mkdir -p /app/.data && chown node:node /app/.data
# The node image's unprivileged `node` user, by number so that runAsNonRoot-style checks can verify it.
USER 1000:1000
EXPOSE 3000
# Liveness only (the process answers HTTP); docker-compose.yml checks readiness (/readyz) itself.
# No curl in the slim image: Node's own fetch does the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `node --import tsx` loads tsx's ESM hooks into this one process: no npm/npx wrapper and no tsx child process, so
# SIGTERM from `docker stop` reaches src/main.ts's handler, which stops the HTTP server and drains the workers.
# (`npm start` is for development: it first provisions the Temporal CLI, which a container with TEMPORAL_ADDRESS
# does not need.)
CMD ["node", "--import", "tsx", "src/main.ts"]
