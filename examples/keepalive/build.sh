#!/bin/sh
# Builds the example's programs and sniffer as static binaries, then their
# FROM scratch images (nothing is pulled):
#   sniffer-example:$TAG, sniffer-keepalive-{app,leaky,fixed,hold}:$TAG   (TAG=latest)
# The example's sniffer is sniffer-example, not sniffer: an image the user
# built from the repository's Dockerfile (sniffer:latest) is left alone.
set -eu
cd "$(dirname "$0")"
TAG=${TAG:-latest}
mkdir -p bin
export CGO_ENABLED=0
for p in app leaky fixed hold; do
    go build -trimpath -ldflags "-s -w" -o bin/$p ./$p
    docker build -q --build-arg BIN=$p -t sniffer-keepalive-$p:$TAG . >/dev/null
done
version=$(git describe --always --dirty 2>/dev/null || echo dev)
mkdir -p bin/sniffer-image
go build -trimpath -ldflags "-s -w -X main.version=$version" -o bin/sniffer-image/sniffer ../../cmd/sniffer
docker build -q -f ../../Dockerfile.prebuilt -t sniffer-example:$TAG bin/sniffer-image >/dev/null
echo "built sniffer-example:$TAG sniffer-keepalive-app:$TAG sniffer-keepalive-leaky:$TAG sniffer-keepalive-fixed:$TAG sniffer-keepalive-hold:$TAG"
