# Two stages: compile with the dev dependencies, then run the compiled service with production
# dependencies only, as the unprivileged `node` user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.sh ./scripts/build.sh
COPY src ./src
COPY workers ./workers
COPY templates ./templates
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# The local outbox (mail written to files when no SMTP relay is set) must be writable by the service.
RUN mkdir -p /app/outbox && chown node:node /app/outbox
USER node
EXPOSE 3000
ENTRYPOINT ["node", "bin/presslift.js"]
CMD ["start"]
