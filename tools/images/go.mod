// make images: each app as an OCI image archive, built without Docker.
// A module of its own so go-containerregistry stays out of the application.
module github.com/harmonia-music/harmonia/tools/images

go 1.26.4

require (
	github.com/google/go-containerregistry v0.22.1
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
