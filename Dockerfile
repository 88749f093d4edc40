# ratestream, for docker compose (not built on the project's own machines: no Docker engine there).
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/copy-assets.mjs
COPY patches patches
COPY src src
COPY bin bin
COPY schemas schemas
COPY rates rates
RUN npm ci && npm prune --omit=dev
USER node
ENTRYPOINT ["node", "bin/ratestream.js"]
CMD ["run"]
