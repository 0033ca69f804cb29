# syntax=docker/dockerfile:1
# The sniffer image: a static binary in an empty (scratch) image.
#
#   docker build -t sniffer --build-arg VERSION=$(git describe --always) .
#   DOCKER_BUILDKIT=0 docker build -t sniffer .        # the legacy builder (Docker 20.10)
#   docker buildx build --platform linux/amd64,linux/arm64 -t sniffer .
#
# Keep in step with Dockerfile.prebuilt, which builds the same final stage from a
# binary compiled beforehand (for machines that cannot pull golang).
# cmd/sniffer's TestDockerfile builds this file with the legacy builder.

# GO_IMAGE is the builder image: any image with Go 1.26 or later in PATH and
# /bin/sh (the tests pass one they make locally, as no registry is reachable).
ARG GO_IMAGE=golang:1.26

# The build stage runs on the machine that builds, and cross-compiles.
# BuildKit (and buildx) always sets BUILDPLATFORM to the builder's platform
# (linux/arm64 on an arm64 host) and TARGETARCH to each --platform's
# architecture, so the default below is never used there: one native Go
# image compiles for every target, without emulation. The legacy builder
# (DOCKER_BUILDKIT=0, Docker 20.10 and older) sets neither, and rejects
# `--platform=` empty ("failed to parse platform : "" is an invalid
# component"); for it the default is "linux", which it reads as linux on the
# host's own architecture (an OS alone gets the host's architecture). A
# fixed default such as linux/amd64 would be wrong there on any other host
# (an arm64 machine would pull and emulate an amd64 Go); GOARCH is then empty,
# which is Go's default: the host's architecture, that of the final image.
FROM --platform=${BUILDPLATFORM:-linux} ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/sniffer ./cmd/sniffer

FROM scratch
COPY --from=build /out/sniffer /sniffer
ENTRYPOINT ["/sniffer"]
