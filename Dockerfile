# Flotilla: one image for the server (flotilla serve), the workers (flotilla worker) and the agent runner
# of the kubernetes runtime (flotilla agent run --http 8080). Multi-stage: the build stage compiles
# TypeScript (and better-sqlite3's native module); the runtime stage holds the built package, production
# dependencies and your agent modules (copied to /app/agents), and runs as a non-root user.
#
#   docker build -t flotilla:0.1.0 .
#   docker build -t flotilla-agents:1 --build-arg AGENTS=./my-agents .

FROM node:20-bookworm-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts=false
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY schema ./schema
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ARG AGENTS=examples
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/schema ./schema
COPY ${AGENTS} ./agents
RUN ln -s /app/dist/cli/main.js /usr/local/bin/flotilla && chmod +x /app/dist/cli/main.js \
  && mkdir -p /workspace /data && chown 10001:10001 /workspace /data
# A numeric non-root user, so that runAsNonRoot can check it.
USER 10001:10001
EXPOSE 7400 8080
HEALTHCHECK NONE
ENTRYPOINT ["flotilla"]
CMD ["serve", "--host", "0.0.0.0", "--port", "7400"]
