# syntax=docker/dockerfile:1
# Images of the rivetkube operator and gateway. The BINARY build argument
# picks the command (operator or gateway); the binary is static
# (CGO_ENABLED=0) and runs as the distroless "nonroot" user (65532).
#
#   docker build --build-arg BINARY=operator --build-arg VERSION=v0.1.0 -t rivetkube/operator:v0.1.0 .
#   docker build --build-arg BINARY=gateway  --build-arg VERSION=v0.1.0 -t rivetkube/gateway:v0.1.0 .
#
# `make docker-build` runs both. Without a Docker engine, `make images`
# builds the same images as tarballs (hack/imgbuild). See docs/install.md.

ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG BINARY=operator
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    case "${BINARY}" in operator|gateway) ;; *) echo "BINARY must be operator or gateway" >&2; exit 1 ;; esac && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/app ./cmd/${BINARY}

FROM ${BASE_IMAGE}
ARG BINARY=operator
ARG VERSION=dev
LABEL org.opencontainers.image.title="rivetkube-${BINARY}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/rivetkube/rivetkube"
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
