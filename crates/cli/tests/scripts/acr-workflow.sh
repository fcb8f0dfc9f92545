#!/usr/bin/env bash
# The everyday ACR workflow against berth, as a person or a pipeline runs it: log in with
# berth, build an image with provenance labels and two tags with the real docker CLI, push
# both tags, then ask berth for the newest tags and the image's description.
#
# Inputs (environment): REGISTRY (host:port), IMAGE (repository name), CONTEXT (a build
# context with a Dockerfile), PASSWORD_FILE (the owner's password), OUT (a directory for
# the two JSON answers), GIT_SHA, GIT_BRANCH, BUILD_DATE. `berth` and `docker` are on PATH;
# HOME, DOCKER_CONFIG and BERTH_CLIENT_CONFIG point into a private home.
set -euo pipefail

berth login "$REGISTRY" -u owner --password-stdin < "$PASSWORD_FILE"

docker build --force-rm \
    --label "git.sha=$GIT_SHA" \
    --label "git.branch=$GIT_BRANCH" \
    --label "build.date=$BUILD_DATE" \
    -t "$REGISTRY/$IMAGE:$GIT_SHA" \
    -t "$REGISTRY/$IMAGE:$GIT_BRANCH-latest" \
    "$CONTEXT"
trap 'docker rmi -f "$REGISTRY/$IMAGE:$GIT_SHA" "$REGISTRY/$IMAGE:$GIT_BRANCH-latest" >/dev/null 2>&1 || true' EXIT

docker push "$REGISTRY/$IMAGE:$GIT_SHA"
docker push "$REGISTRY/$IMAGE:$GIT_BRANCH-latest"

berth repository show-tags "$IMAGE" --orderby time_desc --top 5 -o json > "$OUT/tags.json"
berth repository show-tags "$IMAGE" --orderby time_desc --top 5 --detail -o json > "$OUT/tags-detail.json"
berth repository describe-images "$IMAGE" -o json > "$OUT/images.json"
