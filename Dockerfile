# Build: docker build -t bulkinvite .
# Run:   docker run --rm -e REDIS_URL=redis://redis:6379/0 -e FLOWMINGO_API_KEY_FILE=/run/secrets/flowmingo bulkinvite worker
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bulkinvite ./cmd/bulkinvite

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bulkinvite /usr/local/bin/bulkinvite
COPY configs/bulkinvite.example.yaml /etc/bulkinvite/bulkinvite.example.yaml
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/bulkinvite"]
CMD ["worker"]
