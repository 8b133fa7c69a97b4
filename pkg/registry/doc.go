// Package registry resolves image references and pulls OCI and Docker images
// (manifests, indexes and verified blobs) into a content-addressed cache.
package registry
