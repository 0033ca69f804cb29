# syntax=docker/dockerfile:1
# The sniffer image: a static binary in an empty (scratch) image.
#
#   docker build -t sniffer --build-arg VERSION=$(git describe --always) .
#   docker buildx build --platform linux/amd64,linux/arm64 -t sniffer .
#
# Keep in step with Dockerfile.prebuilt, which builds the same final stage from a
# binary compiled beforehand (for machines that cannot pull golang).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sniffer ./cmd/sniffer

FROM scratch
COPY --from=build /out/sniffer /sniffer
ENTRYPOINT ["/sniffer"]
