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

# The build stage runs on the platform of the machine that builds, and
# cross-compiles for the target (TARGETARCH):
# - BuildKit and buildx always set BUILDPLATFORM, to the builder's own
#   platform (linux/arm64 on an arm64 host), and TARGETARCH to each
#   --platform's architecture: the default after :- is never used, and one
#   native Go stage compiles for every target, without emulation.
# - The legacy builder (DOCKER_BUILDKIT=0; Docker 20.10, Debian 12's
#   docker.io) sets neither, and rejects an empty --platform ("failed to
#   parse platform : "" is an invalid component of """). The default "linux"
#   is an OS without an architecture, which it completes with the daemon's
#   own (containerd's platforms.Parse): the host's platform, as without
#   --platform. TARGETARCH is empty, so GOARCH is too, which is Go's default:
#   the host's architecture, that of the final (scratch) stage.
# A fixed default such as ARG BUILDPLATFORM=linux/amd64 is wrong for the
# legacy builder on any other host (an arm64 machine would build with an
# amd64 Go, emulated or not at all, and GOARCH empty would then make an
# amd64 binary in an arm64 image).
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
