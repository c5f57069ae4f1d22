# The image the Helm chart runs: `opal serve <service>`.
FROM node:22-bookworm-slim
WORKDIR /opal
COPY . .
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev
ENTRYPOINT ["node", "bin/opal.mjs"]
CMD ["up"]
