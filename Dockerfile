# fhir-exchange-gateway: production image. Build: docker build -t fxg .   Run: docker run -p 8080:8080 -e DATABASE_URL=... fxg
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 FXG_DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY config ./config
COPY profiles ./profiles
COPY fixtures ./fixtures
RUN mkdir -p /data && chown node:node /data
USER node
# 8080 FHIR/OAuth; 8081 administration and 2575 MLLP listen on the container's loopback unless
# FXG_ADMIN_HOST / FXG_MLLP_HOST say otherwise: publish them only on a private network.
EXPOSE 8080 8081 2575
HEALTHCHECK CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/ready').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "bin/fxg.js", "serve"]
