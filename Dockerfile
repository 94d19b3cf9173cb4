# One image per app: docker build --build-arg APP=gateway -t harmonia/gateway .
# A static binary (CGO off) on distroless' static base, run as its non-root
# user (65532) with the app as entrypoint: the same image 'make images'
# builds without Docker (an empty base plus the binary and CA certificates).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
ARG APP
RUN test -n "$APP" || (echo "build with --build-arg APP=<app id of dapr.yaml>" >&2; exit 1)
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY apps ./apps
COPY internal ./internal
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/app ./apps/${APP}

FROM gcr.io/distroless/static-debian12:nonroot
ARG APP
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
