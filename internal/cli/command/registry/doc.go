// Package registry holds the CLI's registry commands (login, logout) and
// the credentials lookup that pull and push use: ~/.docker/config.json
// ($DOCKER_CONFIG), in Docker's format, credential helpers included.
package registry
