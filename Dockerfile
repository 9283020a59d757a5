# The tsweave router image. Two stages: `build` compiles the TypeScript (tsc) and the native addon
# (node-gyp) and drops the devDependencies; the runtime stage gets Node.js, iproute2, iptables,
# util-linux's nsenter (all in its base) and the built app, nothing else.
#
#   npm run image                      # base images if missing (scripts/build-base-image.sh), then this
#   docker build -t tsweave/tsweave:0.1.0 .
#
# Both bases are local images made from Debian's packages and this machine's Node.js by
# scripts/build-base-image.sh (no registry needed). Another base works if it has the same tools:
#   --build-arg BUILD_BASE=… (node, npm, Node's headers, python3, make, g++) --build-arg BASE=… (node,
#   ip, iptables, nsenter).
# RUN steps need no network: when the context has node_modules (after `npm ci`), the build uses it;
# otherwise it runs `npm ci`, which needs the npm registry (docker build --network=host).
ARG BUILD_BASE=tsweave/node-build:bookworm
ARG BASE=tsweave/node-runtime:bookworm

FROM ${BUILD_BASE} AS build
WORKDIR /src
COPY . .
RUN if [ ! -d node_modules ]; then npm ci --ignore-scripts --no-audit --no-fund; fi \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete \
 && mkdir -p /app/native/build/Release /app/dist \
 && cp -a package.json bin node_modules /app/ \
 && cp -a dist/src /app/dist/ \
 && cp native/build/Release/tsweave_native.node /app/native/build/Release/

FROM ${BASE}
COPY --from=build /app /opt/tsweave
# The CLI runs and the addon loads here, or the build fails (not the first `docker run`).
RUN ln -s /opt/tsweave/bin/tsweave /usr/local/bin/tsweave \
 && tsweave version \
 && node -e "import('/opt/tsweave/dist/src/io/native.js').then((m) => m.loadNative())"
# `launch` runs the router in this process (the container's main process): its pino JSON goes to
# `docker logs`, and `docker stop` (SIGTERM) stops it. `tsweave launch --help` lists the flags.
ENV TSWEAVE_FOREGROUND=1
VOLUME ["/var/lib/tsweave"]
ENTRYPOINT ["tsweave"]
CMD ["--help"]
