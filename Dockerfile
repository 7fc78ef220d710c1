# stompd in an image that holds nothing else: the static binary, CA
# certificates (for rediss:// and --jwks-url) and an empty /data.
#
#   docker build -t stompd --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(date -u +%FT%TZ) .
#   docker run -d --name stompd -p 8080:8080 -p 61613:61613 -v stompd-data:/data stompd
#
# Flags go after the image name; every flag also has its STOMPD_*
# environment variable (docker run -e). podman builds it alike.

ARG GO_VERSION=1.26.8

# The build stage leaves the image's files in /out: root/ is copied to /
# as it is, data/ becomes /data, owned by the user stompd runs as.
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION
ARG COMMIT
ARG DATE
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/root/stompd ./cmd/stompd \
 && mkdir -p /out/root/etc/ssl/certs /out/data \
 && cp /etc/ssl/certs/ca-certificates.crt /out/root/etc/ssl/certs/

FROM scratch
COPY --from=build /out/root/ /
COPY --from=build --chown=10001:10001 /out/data /data
# A numeric user, so that runtimes that refuse root (runAsNonRoot) can
# check it without a passwd file.
USER 10001:10001
ENV STOMPD_DATA=/data STOMPD_HTTP=0.0.0.0:8080 STOMPD_STOMP=0.0.0.0:61613
VOLUME /data
EXPOSE 8080 61613
# stompd health asks STOMPD_HTTP's port on loopback for /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/stompd", "health"]
ENTRYPOINT ["/stompd"]
