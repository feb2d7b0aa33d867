# The production image: the compiled API and worker on Node 24, as a non-root user.
# Build: docker build -t clinic-platform .   Run: see docker-compose.yml and README "Container".
# (No Docker engine runs on the machines this project is developed on: this file is checked by
# reading it against Docker's Dockerfile reference, not by a build in CI; .ci/production-smoke
# runs the same steps — npm ci --omit=dev, the build's dist/, node dist/main.js — without Docker.)

# Stage 1: compile TypeScript with the dev dependencies (tsc).
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Stage 2: production dependencies only, the compiled code, and the files it reads at run time
# (.gmrc, migrations and db/ for the set-up, web/ for the pages, the trusted documents).
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY .gmrc ./
COPY migrations ./migrations
COPY db ./db
COPY web ./web
COPY client/trusted-documents ./client/trusted-documents
COPY --from=build /app/dist ./dist
# The node image's unprivileged user; the app writes nothing to its own folder in production.
USER node
EXPOSE 3000
# Liveness only (no database): /readyz is for load balancers. The slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
